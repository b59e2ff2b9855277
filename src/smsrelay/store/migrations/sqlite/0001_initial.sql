-- Accounts, keys, messages, recipients and their history.
-- Times are Unix seconds: INTEGER where the API shows them, REAL where the dispatcher
-- needs sub-second precision.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    region      TEXT NOT NULL DEFAULT 'FR',
    language    TEXT NOT NULL DEFAULT 'fr',
    -- Thousandths of the currency: `solde` is shown with three decimals, never a float.
    credits     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- A key is `<id>.<secret>`: the id finds the row, the secret is only ever stored hashed.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) WITHOUT ROWID;

-- AUTOINCREMENT: a message id is never reused, so an old status query can never
-- answer for a newer message.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    text        TEXT,
    sender      TEXT,
    tag         TEXT,
    sandbox     INTEGER NOT NULL DEFAULT 0,
    nb_sms      INTEGER NOT NULL,
    cost        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX messages_by_tag ON messages (account_id, tag) WHERE tag IS NOT NULL;

-- One row per (message, phone). Keyed by account first: the 500-pair status lookup is a
-- primary-key probe per pair, and another account's message can never match.
CREATE TABLE recipients (
    account_id    INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    phone         TEXT NOT NULL,
    text          TEXT,               -- bulk-send: this recipient's own text
    encoding      TEXT NOT NULL,
    parts         INTEGER NOT NULL,
    state         TEXT NOT NULL,
    status_at     INTEGER NOT NULL,   -- last change of the public status
    stop_sms      INTEGER NOT NULL DEFAULT 0,
    is_spam       INTEGER NOT NULL DEFAULT 0,
    due_at        REAL,               -- set while waiting for the dispatcher
    carrier       TEXT,
    operator_ref  TEXT,
    submitted_at  REAL,
    report_until  REAL,               -- set while waiting for the operator's report
    PRIMARY KEY (account_id, message_id, phone)
) WITHOUT ROWID;
CREATE INDEX recipients_due ON recipients (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX recipients_by_operator_ref ON recipients (carrier, operator_ref)
    WHERE operator_ref IS NOT NULL;
CREATE INDEX recipients_report_until ON recipients (report_until)
    WHERE report_until IS NOT NULL;

-- Every state change, with what caused it: the history a support engineer reads.
CREATE TABLE status_events (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    phone       TEXT NOT NULL,
    at          REAL NOT NULL,
    state       TEXT NOT NULL,
    source      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX status_events_by_recipient ON status_events (account_id, message_id, phone);

-- Reports that came before we recorded the submission they answer (operators do that):
-- kept here and applied the moment the submission is recorded.
CREATE TABLE early_receipts (
    id            INTEGER PRIMARY KEY,
    carrier       TEXT NOT NULL,
    operator_ref  TEXT NOT NULL,
    state         TEXT NOT NULL,
    at            REAL NOT NULL,
    detail        TEXT
);
CREATE INDEX early_receipts_by_ref ON early_receipts (carrier, operator_ref);
