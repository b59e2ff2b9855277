-- The last SMS handed to an operator for each number: an inbound STOP names only the
-- number it comes from, and answers the last SMS that number received. Kept by the
-- delivery side when it records submissions, so accepting a send pays nothing for it.
CREATE TABLE latest_recipient (
    phone       TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    carrier     TEXT NOT NULL,
    at          REAL NOT NULL
) WITHOUT ROWID;
