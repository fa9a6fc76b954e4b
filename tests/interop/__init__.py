"""Interop tests: real Graph clients (rclone, msgraph-sdk) against a real `graphdrive serve`."""
