"""Alerts that reach people beyond the web: mail and webhooks, through a durable outbox.

``rules`` decides, without sockets or SQL, which channels take an alert, when a failed message
is tried again and what a message says; ``outbox`` keeps the rows in the hub database;
``senders`` speaks SMTP and HTTP; ``worker`` runs the loop in a process of its own.
"""
