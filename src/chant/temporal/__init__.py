"""Temporal mode. Nothing here is imported unless a Temporal command runs: ``temporalio``
takes a third of a second to import and stays off the local path."""
