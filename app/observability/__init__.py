"""What the server tells its operators: metrics (Prometheus), logs and traces, in one place each.

Below every other layer but the settings: the transport, the GraphQL face, the services, the
stores and the event bus all report here, and nothing here knows any of them.
"""
