"""Vendors judged by their leads: scorecards and automatic suspension."""
