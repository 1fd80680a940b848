"""Contracts and money: MSAs, work orders, milestones, change orders, deliverables, invoices, payments."""
