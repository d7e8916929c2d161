"""Documents the office publishes (disclosures, S&T reports) and the content guard that checks them first."""
