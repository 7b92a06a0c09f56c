"""Scheduled jobs: pure builders of messages from (session, now, chat); the scheduler claims and sends."""
