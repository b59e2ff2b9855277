-- Messages recipients send back, kept for the customer whose SMS they answer. A reply
-- that answers no SMS we know of is kept too, without an account, for the operator of
-- the platform to look at.
CREATE TABLE replies (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER,
    message_id  INTEGER,
    phone       TEXT NOT NULL,
    carrier     TEXT NOT NULL,
    text        TEXT NOT NULL,
    stop        INTEGER NOT NULL,   -- read as an opt-out (the number went on the STOP list)
    at          REAL NOT NULL
);
CREATE INDEX replies_by_account ON replies (account_id, at) WHERE account_id IS NOT NULL;
