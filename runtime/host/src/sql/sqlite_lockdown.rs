//! A SQLite connection that reaches its one file and nothing else.
//!
//! The grant pins the database URL, but SQL itself can open other files: `ATTACH DATABASE
//! '/any/path'` reads or creates one, `VACUUM INTO '/any/path'` writes a copy anywhere the
//! worker may write, and `load_extension()` runs native code. Every new connection is locked
//! down before a task gets it:
//! - `SQLITE_LIMIT_ATTACHED` is 0: no database can be attached (VACUUM, which attaches its
//!   target, fails with it);
//! - an authorizer refuses `ATTACH`, `DETACH` and the `load_extension` function;
//! - extension loading is off (`SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION`).
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
        let mut enabled: c_int = -1;
        let extensions = ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
            0 as c_int,
            &mut enabled as *mut c_int,
        );
        (
            limit_set,
            authorizer == ffi::SQLITE_OK,
            extensions == ffi::SQLITE_OK && enabled == 0,
        )
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
    _: *const c_char,
    function: *const c_char,
    _: *const c_char,
    _: *const c_char,
) -> c_int {
    match action {
        ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => ffi::SQLITE_DENY,
        ffi::SQLITE_FUNCTION if !function.is_null() => {
            // SAFETY: for SQLITE_FUNCTION, SQLite passes the function's name as a
            // NUL-terminated string in the third argument.
            let name = unsafe { CStr::from_ptr(function) };
            if name.to_bytes().eq_ignore_ascii_case(b"load_extension") {
                ffi::SQLITE_DENY
            } else {
                ffi::SQLITE_OK
            }
        }
        _ => ffi::SQLITE_OK,
    }
}
