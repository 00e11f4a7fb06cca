"""Customers and what agents record about them: notes, cases, complaints, return visits."""
