"""Scheduled jobs: the job table (table.py) and one module per message, each a pure builder of
messages from (session, now, chat); the scheduler claims the runs and sends."""
