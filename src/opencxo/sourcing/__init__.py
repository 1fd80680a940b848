"""Sourcing: programs, RFPs with lots, invitations, Q&A, sealed bids, comparison and award."""
