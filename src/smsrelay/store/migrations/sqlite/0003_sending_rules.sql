-- The rules a real SMS business lives by: prices and credits, scheduling and cancel,
-- quiet hours for marketing accounts, and the opt-out (STOP) list.

-- Scheduled dates are read, and quiet hours kept, in the account's own time zone.
ALTER TABLE accounts ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Europe/Paris';
-- Marketing accounts: sends between 20:00 and 08:00, on Sundays and holidays are held.
ALTER TABLE accounts ADD COLUMN quiet_hours INTEGER NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN gamme INTEGER NOT NULL DEFAULT 1;
-- Not before: the scheduled time, or the end of quiet hours. NULL: sent at once.
ALTER TABLE messages ADD COLUMN send_at REAL;
ALTER TABLE messages ADD COLUMN cancelled_at INTEGER;
-- What was taken from the credit (a sandbox send shows a cost and is not charged).
ALTER TABLE messages ADD COLUMN charged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN url_dlr TEXT;
ALTER TABLE messages ADD COLUMN url_response TEXT;
CREATE INDEX messages_waiting ON messages (account_id, send_at)
    WHERE send_at IS NOT NULL AND cancelled_at IS NULL;

-- Price of this recipient's parts, and the country it was priced for (message-status).
ALTER TABLE recipients ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recipients ADD COLUMN country TEXT NOT NULL DEFAULT '';

-- Numbers that asked not to receive an account's SMS any more.
CREATE TABLE stop_list (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    phone       TEXT NOT NULL,
    source      TEXT NOT NULL,      -- 'api' or the carrier the STOP reply came through
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, phone)
);
