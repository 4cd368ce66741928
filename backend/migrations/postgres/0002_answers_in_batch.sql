-- chat_append with answers in the batch of their message: `answers_to[i]`
-- is the place (from 1) of an earlier draft of the same batch that draft i
-- answers, or NULL. Such a draft is stored only if that one is new (a
-- resend was answered when it was first stored: `given_id` comes back NULL
-- and nothing is stored), and its extra gets `answers` set to that
-- message's id (returned as `was_extra`); a message answered in its own
-- batch is never due an answer (`pending_answers`). Each room of the batch
-- is announced once, with its highest new id, instead of once per message.
-- Otherwise as chat_append of 0001, which stays for nodes of the previous
-- version during a rolling upgrade.
CREATE FUNCTION chat_append(
    node TEXT, rooms TEXT[], authors TEXT[], bodies TEXT[], extras TEXT[],
    client_ids TEXT[], sent_ats BIGINT[], answers_to INT[]
) RETURNS TABLE (
    n INT, given_id BIGINT, duplicate BOOLEAN,
    was_author TEXT, was_body TEXT, was_extra TEXT, was_sent_at BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    r TEXT;
    last BIGINT;
    extra TEXT;
    earlier RECORD;
    -- What became of each draft so far: its new id, NULL when it was not
    -- stored now (a resend, or an answer to one).
    fresh BIGINT[] := '{}';
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    FOR r IN SELECT DISTINCT x FROM unnest(rooms) AS x ORDER BY x LOOP
        INSERT INTO room_counters (room, last_id) VALUES (r, 0)
            ON CONFLICT (room) DO NOTHING;
        PERFORM 1 FROM room_counters AS c WHERE c.room = r FOR UPDATE;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(rooms, 1), 0) LOOP
        r := rooms[i];
        extra := extras[i];
        IF answers_to[i] IS NOT NULL THEN
            IF answers_to[i] >= i OR fresh[answers_to[i]] IS NULL THEN
                fresh[i] := NULL;
                n := i; given_id := NULL; duplicate := false;
                was_author := NULL; was_body := NULL; was_extra := NULL; was_sent_at := NULL;
                RETURN NEXT;
                CONTINUE;
            END IF;
            extra := jsonb_set(coalesce(extra::jsonb, '{}'::jsonb), '{answers}',
                               to_jsonb(fresh[answers_to[i]]))::text;
        END IF;
        IF client_ids[i] IS NOT NULL THEN
            SELECT m.id, m.author, m.body, m.extra, m.sent_at INTO earlier
                FROM messages AS m WHERE m.room = r AND m.client_id = client_ids[i];
            IF FOUND THEN
                fresh[i] := NULL;
                n := i; given_id := earlier.id; duplicate := true;
                was_author := earlier.author; was_body := earlier.body;
                was_extra := earlier.extra; was_sent_at := earlier.sent_at;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        UPDATE room_counters AS c SET last_id = c.last_id + 1 WHERE c.room = r
            RETURNING c.last_id INTO last;
        INSERT INTO messages (room, id, author, body, extra, client_id, sent_at)
            VALUES (r, last, authors[i], bodies[i], extra, client_ids[i], sent_ats[i]);
        -- An answer in the batch of its message settles nothing: a message
        -- answered in its own batch was never due.
        IF answers_to[i] IS NOT NULL OR i = ANY(answers_to) THEN
            NULL;
        ELSIF authors[i] = 'ChatFriend' THEN
            DELETE FROM pending_answers AS p
                WHERE p.room = r AND p.id = (extra::jsonb ->> 'answers')::BIGINT;
        ELSE
            INSERT INTO pending_answers (room, id, node) VALUES (r, last, node);
        END IF;
        fresh[i] := last;
        n := i; given_id := last; duplicate := false;
        was_author := NULL; was_body := NULL; was_extra := extra; was_sent_at := NULL;
        RETURN NEXT;
    END LOOP;
    -- One notification per room, with its highest new id: a node reads
    -- everything up to it.
    FOR r, last IN
        SELECT x.room, max(x.id) FROM unnest(rooms, fresh) AS x(room, id)
        WHERE x.id IS NOT NULL GROUP BY x.room
    LOOP
        PERFORM pg_notify('chat_messages', last || ' ' || node || ' ' || r);
    END LOOP;
END
$$;
