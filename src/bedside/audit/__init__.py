from bedside.audit.store import AuditStore, CallRecord, VerifyReport, sha256_text

__all__ = ["AuditStore", "CallRecord", "VerifyReport", "sha256_text"]
