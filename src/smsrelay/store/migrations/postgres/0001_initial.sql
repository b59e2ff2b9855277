-- The schema of the SQLite store after its migration 0009, in one PostgreSQL file: the
-- reasons for each table and index are in migrations/sqlite/, repeated here briefly.
-- Times are Unix seconds: bigint where the API shows them, double precision where the
-- dispatcher needs sub-second precision. Money is bigint thousandths, never a float.
-- Phone numbers are COLLATE "C": ordered by their bytes as SQLite orders them (the API's
-- lists come out in the same order on both stores), and the skip scan over
-- claimed_numbers relies on ":" sorting right after "9".

CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    region      text NOT NULL DEFAULT 'FR',
    language    text NOT NULL DEFAULT 'fr',
    credits     bigint NOT NULL DEFAULT 0,
    created_at  bigint NOT NULL,
    -- Scheduled dates are read, and quiet hours kept, in the account's own time zone.
    timezone    text NOT NULL DEFAULT 'Europe/Paris',
    -- Marketing accounts: sends between 20:00 and 08:00, on Sundays and holidays are held.
    quiet_hours boolean NOT NULL DEFAULT false
);

-- A key is `<id>.<secret>`: the id finds the row, the secret is only ever stored hashed.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    secret_hash bytea NOT NULL,
    created_at  bigint NOT NULL,
    revoked_at  bigint
);

-- An identity never hands out an id twice, so an old status query can never answer for
-- a newer message (SQLite's AUTOINCREMENT).
CREATE TABLE messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    text         text,
    sender       text,
    tag          text,
    sandbox      boolean NOT NULL DEFAULT false,
    nb_sms       bigint NOT NULL,
    cost         bigint NOT NULL,
    created_at   bigint NOT NULL,
    gamme        integer NOT NULL DEFAULT 1,
    -- Not before: the scheduled time, or the end of quiet hours. NULL: sent at once.
    send_at      double precision,
    cancelled_at bigint,
    -- What was taken from the credit (a sandbox send shows a cost and is not charged).
    charged      bigint NOT NULL DEFAULT 0,
    url_dlr      text,
    url_response text
);
CREATE INDEX messages_by_tag ON messages (account_id, tag) WHERE tag IS NOT NULL;
CREATE INDEX messages_waiting ON messages (account_id, send_at)
    WHERE send_at IS NOT NULL AND cancelled_at IS NULL;

-- One row per (message, phone). Keyed by account first: the 500-pair status lookup is a
-- primary-key probe per pair, and another account's message can never match.
CREATE TABLE recipients (
    account_id    bigint NOT NULL,
    message_id    bigint NOT NULL,
    phone         text COLLATE "C" NOT NULL,
    text          text,               -- bulk-send: this recipient's own text
    encoding      text NOT NULL,
    parts         integer NOT NULL,
    state         text NOT NULL,
    status_at     bigint NOT NULL,    -- last change of the public status
    stop_sms      boolean NOT NULL DEFAULT false,
    is_spam       boolean NOT NULL DEFAULT false,
    due_at        double precision,   -- set while waiting for the dispatcher
    carrier       text,
    operator_ref  text,
    submitted_at  double precision,
    report_until  double precision,   -- set while waiting for the operator's report
    -- Price of this recipient's parts, and the country it was priced for.
    cost          bigint NOT NULL DEFAULT 0,
    country       text NOT NULL DEFAULT '',
    -- How many times the dispatcher claimed it: claimed and back in 'accepted' (a
    -- retry, a restart) is pending, and the operator may report on it.
    claims        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, message_id, phone)
);
CREATE INDEX recipients_due ON recipients (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX recipients_by_operator_ref ON recipients (carrier, operator_ref)
    WHERE operator_ref IS NOT NULL;
CREATE INDEX recipients_report_until ON recipients (report_until)
    WHERE report_until IS NOT NULL;
-- Claims a stopped process left behind are released at every start: without this index
-- that reads the whole recipients table.
CREATE INDEX recipients_queued ON recipients (state) WHERE state = 'queued';
-- Claimed and not yet recorded as handed to the operator (sqlite/0009 says why): one
-- probe per number a report may name.
CREATE INDEX recipients_pending_by_phone ON recipients (phone)
    WHERE claims > 0 AND state IN ('accepted', 'queued');

-- Every number an SMS of ours was claimed for, kept at the claim by the delivery side
-- (sqlite/0009 says why: accepting a send pays nothing for it); the regions we send to
-- are read from it by a skip scan.
CREATE TABLE claimed_numbers (
    phone text COLLATE "C" PRIMARY KEY
);

-- Every state change, with what caused it: the history a support engineer reads.
CREATE TABLE status_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL,
    message_id  bigint NOT NULL,
    phone       text COLLATE "C" NOT NULL,
    at          double precision NOT NULL,
    state       text NOT NULL,
    source      text NOT NULL,
    detail      text
);
CREATE INDEX status_events_by_recipient ON status_events (account_id, message_id, phone);

-- Reports that came before we recorded the submission they answer (operators do that):
-- kept here with the handset they name, and applied the moment a submission with their
-- id to that handset is recorded.
CREATE TABLE early_receipts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier       text NOT NULL,
    operator_ref  text NOT NULL,
    state         text NOT NULL,
    at            double precision NOT NULL,
    detail        text,
    phone         text
);
CREATE INDEX early_receipts_by_ref ON early_receipts (carrier, operator_ref);

-- Numbers that asked not to receive an account's SMS any more.
CREATE TABLE stop_list (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    phone       text NOT NULL,
    source      text NOT NULL,      -- 'api' or the carrier the STOP reply came through
    created_at  bigint NOT NULL,
    UNIQUE (account_id, phone)
);

-- The parts of a long SMS, each with its own operator id and its own report. Operators
-- reuse ids, so parts are keyed by what they are; reports name them by operator id.
CREATE TABLE parts (
    account_id    bigint NOT NULL,
    message_id    bigint NOT NULL,
    phone         text COLLATE "C" NOT NULL,
    part          integer NOT NULL,   -- 1-based, in the order the text was split
    carrier       text NOT NULL,
    operator_ref  text NOT NULL,
    state         text NOT NULL,
    PRIMARY KEY (account_id, message_id, phone, part)
);
CREATE INDEX parts_by_operator_ref ON parts (carrier, operator_ref);

-- The last SMS handed to an operator for each number: an inbound STOP names only the
-- number it comes from, and answers the last SMS that number received.
CREATE TABLE latest_recipient (
    phone       text COLLATE "C" PRIMARY KEY,
    account_id  bigint NOT NULL,
    message_id  bigint NOT NULL,
    carrier     text NOT NULL,
    at          double precision NOT NULL
);

-- Messages recipients send back; one that answers no SMS we know of is kept without an
-- account, for the operator of the platform to look at.
CREATE TABLE replies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint,
    message_id  bigint,
    phone       text NOT NULL,
    carrier     text NOT NULL,
    text        text NOT NULL,
    stop        boolean NOT NULL,   -- read as an opt-out (the number went on the STOP list)
    at          double precision NOT NULL
);
CREATE INDEX replies_by_account ON replies (account_id, at) WHERE account_id IS NOT NULL;

-- Reports that still fit two or more SMS awaiting a report once the handset is compared:
-- applied to none, kept for an operator of the platform to look at. `candidates` is
-- [[account_id, message_id, phone, part], ...] (part null: a one-part SMS). Text, the JSON
-- as the store wrote it, as on SQLite: it is only ever read back whole, never queried.
CREATE TABLE ambiguous_receipts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    carrier       text NOT NULL,
    operator_ref  text NOT NULL,
    phone         text,
    state         text NOT NULL,
    at            double precision NOT NULL,
    detail        text,
    candidates    text NOT NULL
);
