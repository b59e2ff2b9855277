"""The SMSC simulator that `smsrelay smsc` runs: an operator speaking SMPP 3.4.

It lets smsrelay's SMPP carrier be tested end to end without an operator: the fates of
the in-process simulator (`delivery.carriers.simulator.OutcomeModel`), delivered as
receipts over SMPP, plus the misbehaviours of real SMSCs as fault switches. `settings`
reads its TOML file, `fates` decides what happens to a submit_sm, `receipts` writes
delivery receipts, `outbox` sends what the SMSC owes an ESME until it is acknowledged,
`decisions` logs every decision for the tests, `server` holds the connections.
"""
