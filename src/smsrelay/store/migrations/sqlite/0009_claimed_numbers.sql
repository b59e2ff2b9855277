-- Whether a receipt's handset is a number we send to (domain/report_matching.py) must
-- not depend on what we recorded of its SMS, which lags or differs from what the
-- operator holds: an answer lost with its connection leaves an SMS the operator has
-- back in `accepted` for a retry; a long SMS refused on its second part is recorded
-- refused, and its first part is reported on. Judged "no number we send to", such a
-- receipt was matched on its id alone and could land on another SMS.
--
-- Every SMS the operator may hold was claimed by the dispatcher first, so the numbers
-- are kept at the claim, by the delivery side: accepting a send pays nothing for them
-- (an index on recipients (phone) cost bulk-send 30 % of its throughput, measured).
CREATE TABLE claimed_numbers (
    phone TEXT PRIMARY KEY
) WITHOUT ROWID;
-- How many times the dispatcher claimed a recipient: one claimed and back in `accepted`
-- for a retry (or released at a restart) is pending, and the operator may report on it.
ALTER TABLE recipients ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
UPDATE recipients SET claims = 1 WHERE state <> 'accepted' OR carrier IS NOT NULL;
UPDATE recipients SET claims = 0 WHERE state = 'cancelled';
INSERT OR IGNORE INTO claimed_numbers SELECT phone FROM recipients WHERE claims > 0;
INSERT OR IGNORE INTO claimed_numbers SELECT phone FROM latest_recipient;
-- Claimed and not yet recorded as handed to the operator: one probe per number asked.
DROP INDEX recipients_queued_by_phone;
CREATE INDEX recipients_pending_by_phone ON recipients (phone)
    WHERE claims > 0 AND state IN ('accepted', 'queued');
