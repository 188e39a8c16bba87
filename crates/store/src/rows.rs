//! Decoding rows into records, shared by both backends (the column names are the same).

/// Builds a [`crate::CaseRecord`] from a row with the columns of `cases`.
macro_rules! case_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<$crate::CaseRecord, $crate::StoreError> {
            let id: String = row.try_get("id")?;
            Ok($crate::CaseRecord {
                id: $crate::CaseId::new(id)
                    .map_err(|e| $crate::StoreError::Corrupt(format!("a stored case id is invalid: {e}")))?,
                node: row.try_get("node")?,
                kind: row.try_get("kind")?,
                state: row.try_get("state")?,
                version: $crate::model::from_db("version", row.try_get("version")?)?,
                last_seq: $crate::model::from_db("last_seq", row.try_get("last_seq")?)?,
                snapshot: row.try_get("snapshot")?,
                created_at: $crate::UnixTime(row.try_get("created_at")?),
                updated_at: $crate::UnixTime(row.try_get("updated_at")?),
                opened_by: row.try_get("opened_by")?,
            })
        })()
    }};
}

/// Builds an [`crate::EventRecord`] from a row with the columns of `events` (but `wid`).
macro_rules! event_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<$crate::EventRecord, $crate::StoreError> {
            let id: String = row.try_get("case_id")?;
            let log_index: Option<i64> = row.try_get("log_index")?;
            let reveal_by: Option<i64> = row.try_get("reveal_by")?;
            Ok($crate::EventRecord {
                case_id: $crate::CaseId::new(id)
                    .map_err(|e| $crate::StoreError::Corrupt(format!("a stored case id is invalid: {e}")))?,
                seq: $crate::model::from_db("seq", row.try_get("seq")?)?,
                kind: row.try_get("kind")?,
                at: $crate::UnixTime(row.try_get("at")?),
                bytes: row.try_get("bytes")?,
                salt: $crate::model::salt_from_db(row.try_get("salt")?)?,
                reveal_by: reveal_by.map($crate::DayNumber),
                log_index: log_index.map(|i| $crate::model::from_db("log_index", i)).transpose()?,
                revealed: row.try_get("revealed")?,
            })
        })()
    }};
}

/// Reads an [`crate::AccessRecord`] from a row with the `accesses` columns.
macro_rules! access_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        (|| -> Result<$crate::AccessRecord, $crate::StoreError> {
            let id: String = row.try_get("case_id")?;
            Ok($crate::AccessRecord {
                case_id: $crate::CaseId::new(id)
                    .map_err(|e| $crate::StoreError::Corrupt(format!("a stored case id is invalid: {e}")))?,
                at: $crate::UnixTime(row.try_get("at")?),
                role: row.try_get("role")?,
                what: row.try_get("what")?,
                bytes: row.try_get("bytes")?,
                salt: $crate::model::salt_from_db(row.try_get("salt")?)?,
                log_index: $crate::model::from_db("log_index", row.try_get("log_index")?)?,
            })
        })()
    }};
}

pub(crate) use {access_from_row, case_from_row, event_from_row};
