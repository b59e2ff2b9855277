-- Operators reuse message ids (a counter restarted with the SMSC, one counter per bind):
-- a report is matched on its id and the handset it names (domain/report_matching.py), so
-- an id no longer identifies a part. Parts are keyed by what they are, and two parts of
-- different SMS may share an id: a reused one is never dropped.
CREATE TABLE parts_by_recipient_part (
    account_id    INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    phone         TEXT NOT NULL,
    part          INTEGER NOT NULL,   -- 1-based, in the order the text was split
    carrier       TEXT NOT NULL,
    operator_ref  TEXT NOT NULL,
    state         TEXT NOT NULL,
    PRIMARY KEY (account_id, message_id, phone, part)
) WITHOUT ROWID;
INSERT INTO parts_by_recipient_part
    (account_id, message_id, phone, part, carrier, operator_ref, state)
    SELECT account_id, message_id, phone, part, carrier, operator_ref, state FROM parts;
DROP TABLE parts;
ALTER TABLE parts_by_recipient_part RENAME TO parts;
-- Reports name parts by operator id; the primary key serves the parts of one recipient.
CREATE INDEX parts_by_operator_ref ON parts (carrier, operator_ref);

-- The handset an early report names: it waits for a submission to that number only.
ALTER TABLE early_receipts ADD COLUMN phone TEXT;

-- Reports that still fit two or more SMS awaiting a report once the handset is compared:
-- applied to none, kept for an operator of the platform to look at. `candidates` lists
-- them as JSON [[account_id, message_id, phone, part], ...] (part null: a one-part SMS).
CREATE TABLE ambiguous_receipts (
    id            INTEGER PRIMARY KEY,
    carrier       TEXT NOT NULL,
    operator_ref  TEXT NOT NULL,
    phone         TEXT,
    state         TEXT NOT NULL,
    at            REAL NOT NULL,
    detail        TEXT,
    candidates    TEXT NOT NULL
);
