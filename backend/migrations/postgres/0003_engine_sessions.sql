-- What a bot engine keeps per conversation across restarts (Botpress's
-- chat user and its key, its conversation id), as the engine's own JSON.
-- `conversation` is `<engine>:<conversation>`, e.g. `botpress:group:general`.
CREATE TABLE IF NOT EXISTS engine_sessions (
    conversation TEXT PRIMARY KEY,
    state        TEXT NOT NULL
);
