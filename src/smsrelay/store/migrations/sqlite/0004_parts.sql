-- The parts of a long SMS, each with its own operator id and its own report: the
-- recipient is Delivered only when every part is (contract §3). A one-part SMS keeps its
-- operator id on its recipient row and has no rows here.
CREATE TABLE parts (
    carrier       TEXT NOT NULL,
    operator_ref  TEXT NOT NULL,
    account_id    INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    phone         TEXT NOT NULL,
    part          INTEGER NOT NULL,   -- 1-based, in the order the text was split
    state         TEXT NOT NULL,
    PRIMARY KEY (carrier, operator_ref)
) WITHOUT ROWID;
CREATE INDEX parts_by_recipient ON parts (account_id, message_id, phone);
