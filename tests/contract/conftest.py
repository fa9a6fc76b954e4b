"""Services the contract suites run their backends on."""

from tests.support.seaweed import seaweed_s3

__all__ = ["seaweed_s3"]  # a session fixture: one SeaweedFS S3 server for every S3 test
