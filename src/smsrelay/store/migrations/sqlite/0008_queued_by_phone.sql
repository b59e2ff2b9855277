-- A report whose handset names no SMS recorded with its id asks whether an SMS to that
-- number is being submitted (domain/report_matching.py): one probe per number of the
-- batch, on the few rows claimed at this moment.
CREATE INDEX recipients_queued_by_phone ON recipients (phone) WHERE state = 'queued';
