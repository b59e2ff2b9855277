-- Whether a receipt's handset is a number we send to (domain/report_matching.py) is read
-- from every recipient with that number, whatever its state: what we recorded can lag
-- or differ from what the operator holds. An answer lost with its connection leaves an
-- SMS the operator has back in `accepted` for a retry; a long SMS refused on its second
-- part is recorded refused, and its first part is reported on. Judged "no number we send
-- to", such a receipt was matched on its id alone and could land on another SMS.
-- A whole index also costs a send less than the partial one did: a recipient's entry is
-- written once, not again at every change of state.
DROP INDEX recipients_queued_by_phone;
CREATE INDEX recipients_by_phone ON recipients (phone);
