//! A SQLite connection that reaches its one file and nothing else.
//!
//! The grant pins the database URL, but SQL itself can open other files: `ATTACH DATABASE
//! '/any/path'` reads or creates one, `VACUUM INTO '/any/path'` writes a copy anywhere the
//! worker may write, and `load_extension()` runs native code. Every new connection is locked
//! down before a task gets it:
//! - `SQLITE_LIMIT_ATTACHED` is 0: no database can be attached (VACUUM, which attaches its
//!   target, fails with it);
//! - an authorizer refuses `ATTACH`, `DETACH`, the `load_extension` function and the
//!   process-wide `temp_store_directory` and `data_store_directory` pragmas;
//! - extension loading is off (`SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION`), defensive mode on
//!   (no `writable_schema` edits that corrupt the file), and schemas untrusted
//!   (`SQLITE_DBCONFIG_TRUSTED_SCHEMA` 0: functions with side effects stay out of views and
//!   triggers).
//!
//! sqlx has no API for these; they are three calls on the raw handle it lends out.

use std::ffi::{CStr, c_char, c_int, c_void};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

/// Locks down `conn` (see the module docs).
pub(super) async fn apply(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is the open connection sqlx has locked for us: no other thread uses it
    // until `handle` drops. The authorizer is a plain function with no user data, and lives
    // as long as the program.
    let (limit_set, authorizer_set, extensions_off) = unsafe {
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0);
        let limit_set = ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, -1) == 0;
        let authorizer = ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut());
        let set = |op: c_int, value: c_int| {
            let mut now: c_int = -1;
            let rc = ffi::sqlite3_db_config(db, op, value, &mut now as *mut c_int);
            rc == ffi::SQLITE_OK && now == value
        };
        let configured = set(ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0)
            && set(ffi::SQLITE_DBCONFIG_DEFENSIVE, 1)
            && set(ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0);
        (limit_set, authorizer == ffi::SQLITE_OK, configured)
    };
    if limit_set && authorizer_set && extensions_off {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            "could not lock the SQLite connection down to its own file".into(),
        ))
    }
}

/// SQLite's authorizer: refuses attaching databases and loading extensions.
extern "C" fn authorize(
    _: *mut c_void,
    action: c_int,
    first: *const c_char,
    second: *const c_char,
    _: *const c_char,
    _: *const c_char,
) -> c_int {
    // SAFETY: SQLite passes NUL-terminated strings or NULL in these arguments.
    let named = |arg: *const c_char, names: &[&[u8]]| {
        !arg.is_null()
            && names.iter().any(|n| {
                unsafe { CStr::from_ptr(arg) }
                    .to_bytes()
                    .eq_ignore_ascii_case(n)
            })
    };
    let denied = match action {
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => true,
        // The function's name comes second.
        ffi::SQLITE_FUNCTION => named(second, &[b"load_extension"]),
        // The pragma's name comes first.
        ffi::SQLITE_PRAGMA => named(first, &[b"temp_store_directory", b"data_store_directory"]),
        _ => false,
    };
    if denied {
        ffi::SQLITE_DENY
    } else {
        ffi::SQLITE_OK
    }
}
