//! Node-side Modicum workers; the roles land with their own issue.
