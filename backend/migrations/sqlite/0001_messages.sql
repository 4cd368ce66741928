-- Every accepted message, per room: the group chat is room 'group', each
-- user's private conversation with the bot is room 'user:<id>'.
CREATE TABLE messages (
    room      TEXT    NOT NULL,
    -- 1, 2, 3, ... within the room, in the order messages were accepted.
    id        INTEGER NOT NULL,
    -- The display name, 'ChatFriend' for the bot, or the user id in a private room.
    author    TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    -- Whatever else a view needs (a bot message's quick replies), as JSON.
    extra     TEXT,
    -- The sender's own id for the message; a resend carries it again.
    client_id TEXT,
    -- Milliseconds since the Unix epoch.
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_by_client_id ON messages (room, client_id)
    WHERE client_id IS NOT NULL;
