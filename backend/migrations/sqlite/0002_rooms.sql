-- Group rooms people created; 'general' is always there and not listed.
-- Their messages are in `messages` under the room 'room:<name>'.
CREATE TABLE rooms (
    name       TEXT    PRIMARY KEY,
    -- Milliseconds since the Unix epoch.
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The display name of each session's user.
CREATE TABLE profiles (
    user TEXT PRIMARY KEY,
    name TEXT NOT NULL
) WITHOUT ROWID;

-- The group rooms each user is in, and how far they have read each.
CREATE TABLE memberships (
    user      TEXT    NOT NULL,
    room      TEXT    NOT NULL,
    -- The id of the last message read; 0 for none.
    last_read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, room)
) WITHOUT ROWID;
