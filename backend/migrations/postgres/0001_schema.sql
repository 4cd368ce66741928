-- The chat's schema on PostgreSQL: what the SQLite migrations make, plus
-- the per-room counters that order appends from several nodes.

-- Every accepted message, per room: 'group' is the room general,
-- 'group:<name>' another group room, 'user:<id>' a private conversation.
CREATE TABLE messages (
    room      TEXT   NOT NULL,
    -- 1, 2, 3, ... within the room, in commit order.
    id        BIGINT NOT NULL,
    -- The display name, 'ChatFriend' for the bot, or the user id in a private room.
    author    TEXT   NOT NULL,
    body      TEXT   NOT NULL,
    -- Whatever else a view needs (a bot message's quick replies), as JSON.
    extra     TEXT,
    -- The sender's own id for the message; a resend carries it again.
    client_id TEXT,
    -- Milliseconds since the Unix epoch.
    sent_at   BIGINT NOT NULL,
    PRIMARY KEY (room, id)
);

CREATE UNIQUE INDEX messages_by_client_id ON messages (room, client_id)
    WHERE client_id IS NOT NULL;

-- The last id given in each room. An append locks its rooms' rows until
-- it commits, so ids are dense and commit order is id order.
CREATE TABLE room_counters (
    room    TEXT   PRIMARY KEY,
    last_id BIGINT NOT NULL
);

-- Group rooms people created; 'general' is always there and not listed.
CREATE TABLE rooms (
    name       TEXT   PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- The display name of each session's user.
CREATE TABLE profiles (
    user_id TEXT PRIMARY KEY,
    name    TEXT NOT NULL
);

-- The group rooms each user is in, and how far they have read each.
CREATE TABLE memberships (
    user_id   TEXT   NOT NULL,
    room      TEXT   NOT NULL,
    -- The id of the last message read; 0 for none.
    last_read BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, room)
);

-- Messages the bot has yet to answer, and which node is answering each.
-- A bot reply recording `answers` in its extra settles its message. A
-- message whose node stopped (no heartbeat in `nodes`), or whose claim is
-- older than a lease, is taken over by another node and asked again.
CREATE TABLE pending_answers (
    room       TEXT        NOT NULL,
    id         BIGINT      NOT NULL,
    node       TEXT        NOT NULL,
    stored_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room, id)
);

-- Each running node, and when it last said so.
CREATE TABLE nodes (
    node    TEXT        PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);

-- Stores a batch of drafts (the arrays are its columns, in order) in the
-- caller's transaction and returns, for each, its id and whether it was
-- stored before (a resend: the earlier message's fields are returned).
-- Every room of the batch is locked first, in name order, so two batches
-- never deadlock; each new message is announced on the channel
-- 'chat_messages' as '<id> <node> <room>' (the node that stored it),
-- delivered at commit, in commit order. A person's message is due an
-- answer from that node (`pending_answers`); a bot reply settles the
-- message its extra says it answers.
CREATE FUNCTION chat_append(
    node TEXT, rooms TEXT[], authors TEXT[], bodies TEXT[], extras TEXT[],
    client_ids TEXT[], sent_ats BIGINT[]
) RETURNS TABLE (
    n INT, given_id BIGINT, duplicate BOOLEAN,
    was_author TEXT, was_body TEXT, was_extra TEXT, was_sent_at BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    r TEXT;
    last BIGINT;
    earlier RECORD;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    FOR r IN SELECT DISTINCT x FROM unnest(rooms) AS x ORDER BY x LOOP
        INSERT INTO room_counters (room, last_id) VALUES (r, 0)
            ON CONFLICT (room) DO NOTHING;
        PERFORM 1 FROM room_counters AS c WHERE c.room = r FOR UPDATE;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(rooms, 1), 0) LOOP
        r := rooms[i];
        IF client_ids[i] IS NOT NULL THEN
            SELECT m.id, m.author, m.body, m.extra, m.sent_at INTO earlier
                FROM messages AS m WHERE m.room = r AND m.client_id = client_ids[i];
            IF FOUND THEN
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
            VALUES (r, last, authors[i], bodies[i], extras[i], client_ids[i], sent_ats[i]);
        IF authors[i] = 'ChatFriend' THEN
            DELETE FROM pending_answers AS p
                WHERE p.room = r AND p.id = (extras[i]::jsonb ->> 'answers')::BIGINT;
        ELSE
            INSERT INTO pending_answers (room, id, node) VALUES (r, last, node);
        END IF;
        PERFORM pg_notify('chat_messages', last || ' ' || node || ' ' || r);
        n := i; given_id := last; duplicate := false;
        was_author := NULL; was_body := NULL; was_extra := NULL; was_sent_at := NULL;
        RETURN NEXT;
    END LOOP;
END
$$;
