"""What an operator watches: traces (and, with prometheus-client, metrics)."""
