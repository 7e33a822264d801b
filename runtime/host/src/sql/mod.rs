//! The `sql` interface the host gives connectors: a pool of connections to the one database
//! the connector's config names (`x-connectd-grant: sql-url`), through sqlx.
//!
//! - Calls block the task's own thread on a small tokio runtime of the host's own, so a task
//!   keeps its synchronous shape; the time a call spends waiting on the database does not
//!   count against the task's CPU deadline (see [`TaskState::waited_ticks`]).
//! - Pools test a connection before handing it out, so a database that restarted is
//!   reconnected to on the next call, and wait at most [`ACQUIRE_TIMEOUT`] for one.
//! - Every error text has the URL's password replaced by `***` before the guest sees it.
//! - A SQLite connection reaches its one file and nothing else ([`sqlite_lockdown`]).

mod convert;
mod sqlite_lockdown;

use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, MySqlPool, PgPool, SqlitePool};
use wasmtime::component::Resource;

use crate::bindings::source::connectd::connector::sql::{
    self, Dialect, Host, HostConnection, HostTransaction, Rows, SqlError, Statement,
};
use crate::store::{TaskState, Waited};

/// The longest a call waits for a free (or new) connection before it reports the database
/// unreachable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections one task's pool may hold.
const MAX_CONNECTIONS: u32 = 2;

/// A pool to one of the three databases (a handle to shared state: cloning is cheap).
#[derive(Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// The host side of a `sql.connection`.
struct Connection {
    pool: Pool,
    /// The URL's password, hidden in every error.
    password: Option<String>,
}

fn entry(handle: &Resource<sql::Connection>) -> Resource<Connection> {
    Resource::new_borrow(handle.rep())
}

/// The host side of a `sql.transaction`: the queue to its background task, and the first
/// error it met.
struct Transaction {
    commands: tokio::sync::mpsc::UnboundedSender<convert::Command>,
    failed: convert::Failed,
}

/// `text` with `password` replaced by `***`, as written in the URL and percent-decoded (the
/// form sqlx sends, which a server may quote back), the longer first.
fn redact(text: String, password: Option<&str>) -> String {
    let Some(written) = password.filter(|p| !p.is_empty()) else {
        return text;
    };
    let decoded = percent_encoding::percent_decode_str(written)
        .decode_utf8_lossy()
        .into_owned();
    let (long, short) = if decoded.len() > written.len() {
        (decoded.as_str(), written)
    } else {
        (written, decoded.as_str())
    };
    let text = text.replace(long, "***");
    if short.is_empty() {
        text
    } else {
        text.replace(short, "***")
    }
}

/// The password part of a URL (`scheme://user:password@host`), as written.
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let (_, password) = userinfo.split_once(':')?;
    Some(password.to_string())
}

/// What kind of failure `e` is, in words that say what to do.
fn classify(e: sqlx::Error, password: Option<&str>) -> SqlError {
    let message = |m: String| redact(m, password);
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let text = message(format!("{} (code {code})", db.message()));
            // PostgreSQL: 08 connection, 28 authorization, 3D missing database, 57P shutdown,
            // 57014 a statement cancelled (statement_timeout);
            // MySQL: 1044/1045 access denied, 1049 unknown database, 2002/2003/2006/2013 lost.
            let connection = code.starts_with("08")
                || code.starts_with("28")
                || code.starts_with("3D")
                || code.starts_with("57P")
                || code == "57014"
                || ["1044", "1045", "1049", "2002", "2003", "2006", "2013"].contains(&&*code);
            if code.starts_with("28") || code == "1045" || code == "1044" {
                SqlError::Connection(format!("the database refused the login: {text}"))
            } else if connection {
                SqlError::Connection(format!("the database is unavailable: {text}"))
            } else {
                SqlError::Statement(text)
            }
        }
        sqlx::Error::Io(e) => SqlError::Connection(message(format!(
            "cannot reach the database (is it running, and is the host and port right?): {e}"
        ))),
        sqlx::Error::PoolTimedOut => SqlError::Connection(format!(
            "no connection to the database within {} s (is it running?)",
            ACQUIRE_TIMEOUT.as_secs()
        )),
        e @ (sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => SqlError::Connection(message(e.to_string())),
        e @ sqlx::Error::Configuration(_) => SqlError::Denied(message(e.to_string())),
        e => SqlError::Statement(message(e.to_string())),
    }
}

/// Opens a pool to `url` (connecting once, so a wrong URL, password or database fails here).
/// PostgreSQL ends any statement that runs past `statement_timeout` itself (its
/// `statement_timeout` setting), so a cancelled wait leaves no statement holding locks; on
/// MySQL and MariaDB, whose settings for it differ, the host's wait bound drops the
/// connection instead.
async fn connect(url: &str, statement_timeout: std::time::Duration) -> Result<Pool, sqlx::Error> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    Ok(match scheme {
        "postgres" | "postgresql" => {
            let options: PgConnectOptions = url.parse()?;
            // A second later than the host's own bound, whose error says which setting.
            let timeout = (statement_timeout.as_millis() + 1000).to_string();
            let options = options
                .disable_statement_logging()
                .options([("statement_timeout", timeout.as_str())]);
            Pool::Postgres(pool_options().connect_with(options).await?)
        }
        "mysql" | "mariadb" => {
            let options: MySqlConnectOptions = url.replacen("mariadb:", "mysql:", 1).parse()?;
            let options = options.disable_statement_logging();
            Pool::MySql(pool_options().connect_with(options).await?)
        }
        "sqlite" => {
            let options: SqliteConnectOptions = url.parse()?;
            let options = options.create_if_missing(true).disable_statement_logging();
            let pool = pool_options().after_connect(|conn, _| {
                Box::pin(async move { sqlite_lockdown::apply(conn).await })
            });
            Pool::Sqlite(pool.connect_with(options).await?)
        }
        _ => {
            return Err(sqlx::Error::Configuration(
                format!("unknown scheme {scheme:?}: use postgres://, mysql:// (or mariadb://) or sqlite://").into(),
            ));
        }
    })
}

fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(true)
}

impl TaskState {
    /// Runs `f` on the I/O runtime (see [`TaskState::block_on`]); a panic inside the driver
    /// goes on as a panic of the task, as it would outside this wait; a call that waited its
    /// `wait_timeout` gets a connection error (retryable), the statement cancelled.
    fn wait<T>(&mut self, f: impl Future<Output = T>) -> Result<T, SqlError> {
        match self.block_on(f) {
            Ok(t) => Ok(t),
            Err(Waited::Panicked(text)) => panic!("{text}"),
            Err(Waited::TimedOut(text)) => Err(SqlError::Connection(text)),
        }
    }

    fn connection(&self, handle: &Resource<sql::Connection>) -> Result<&Connection, SqlError> {
        self.table
            .get(&entry(handle))
            .map_err(|e| SqlError::Denied(e.to_string()))
    }

    /// A connection's pool, and the password its errors hide.
    fn pool(&self, handle: &Resource<sql::Connection>) -> Result<(Pool, Option<String>), SqlError> {
        let c = self.connection(handle)?;
        Ok((c.pool.clone(), c.password.clone()))
    }
}

impl Host for TaskState {}

impl HostConnection for TaskState {
    fn open(&mut self, url: String) -> Result<Resource<sql::Connection>, SqlError> {
        if !self.sql_urls.contains(&url) {
            let granted = self.sql_urls.len();
            return Err(SqlError::Denied(format!(
                "this URL is not the value of a key the connector's schema marks x-connectd-grant: sql-url ({granted} granted)"
            )));
        }
        let password = password_of(&url);
        let pool = self
            .wait(connect(&url, self.wait_timeout))?
            .map_err(|e| classify(e, password.as_deref()))?;
        let own = self
            .table
            .push(Connection { pool, password })
            .map_err(|e| SqlError::Denied(e.to_string()))?;
        Ok(Resource::new_own(own.rep()))
    }

    fn dialect(&mut self, connection: Resource<sql::Connection>) -> Dialect {
        match self.connection(&connection).map(|c| &c.pool) {
            Ok(Pool::MySql(_)) => Dialect::Mysql,
            Ok(Pool::Sqlite(_)) => Dialect::Sqlite,
            _ => Dialect::Postgres,
        }
    }

    fn query(
        &mut self,
        connection: Resource<sql::Connection>,
        statement: Statement,
    ) -> Result<Rows, SqlError> {
        let (pool, password) = self.pool(&connection)?;
        self.wait(convert::query(&pool, statement))?
            .map_err(|e| classify(e, password.as_deref()))
    }

    fn execute(
        &mut self,
        connection: Resource<sql::Connection>,
        statements: Vec<Statement>,
    ) -> Result<Vec<u64>, SqlError> {
        let (pool, password) = self.pool(&connection)?;
        self.wait(convert::execute(&pool, statements))?
            .map_err(|e| classify(e, password.as_deref()))
    }

    fn begin(
        &mut self,
        connection: Resource<sql::Connection>,
    ) -> Result<Resource<sql::Transaction>, SqlError> {
        let (pool, password) = self.pool(&connection)?;
        let (commands, queue) = tokio::sync::mpsc::unbounded_channel();
        let failed = convert::Failed::default();
        let started = convert::begin(&pool, queue, failed.clone(), password.clone());
        self.wait(started)?
            .map_err(|e| classify(e, password.as_deref()))?;
        let own = self
            .table
            .push(Transaction { commands, failed })
            .map_err(|e| SqlError::Denied(e.to_string()))?;
        Ok(Resource::new_own(own.rep()))
    }

    fn drop(&mut self, connection: Resource<sql::Connection>) -> wasmtime::Result<()> {
        let c = self
            .table
            .delete(Resource::<Connection>::new_own(connection.rep()))?;
        let pool = c.pool;
        // Closing says goodbye to the server; a pool dropped without it only drops sockets.
        if let Some(io) = &self.io {
            io.spawn(async move {
                match pool {
                    Pool::Postgres(p) => p.close().await,
                    Pool::MySql(p) => p.close().await,
                    Pool::Sqlite(p) => p.close().await,
                }
            });
        }
        Ok(())
    }
}

impl TaskState {
    fn transaction(&self, handle: &Resource<sql::Transaction>) -> Result<&Transaction, SqlError> {
        self.table
            .get(&Resource::<Transaction>::new_borrow(handle.rep()))
            .map_err(|e| SqlError::Denied(e.to_string()))
    }
}

/// A transaction whose background task has ended without committing.
fn ended() -> SqlError {
    SqlError::Connection("the transaction ended (its connection was lost)".into())
}

impl HostTransaction for TaskState {
    fn send(
        &mut self,
        transaction: Resource<sql::Transaction>,
        statements: Vec<Statement>,
    ) -> Result<(), SqlError> {
        let t = self.transaction(&transaction)?;
        if let Some(e) = t.failed.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(e);
        }
        t.commands
            .send(convert::Command::Run(statements))
            .map_err(|_| ended())
    }

    fn commit(&mut self, transaction: Resource<sql::Transaction>) -> Result<(), SqlError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.transaction(&transaction)?
            .commands
            .send(convert::Command::Commit(reply))
            .map_err(|_| ended())?;
        self.wait(answer)?.map_err(|_| ended())?
    }

    fn drop(&mut self, transaction: Resource<sql::Transaction>) -> wasmtime::Result<()> {
        // Dropping the queue ends the background task, which rolls back if it did not commit.
        self.table
            .delete(Resource::<Transaction>::new_own(transaction.rep()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_hidden() {
        let url = "postgres://app:s3cr%40t@db:5432/test";
        let p = password_of(url);
        assert_eq!(p.as_deref(), Some("s3cr%40t"));
        assert_eq!(
            redact(format!("failed for {url}"), p.as_deref()),
            "failed for postgres://app:***@db:5432/test"
        );
        // The decoded form, as a server may quote what it was sent.
        assert_eq!(
            redact("password \"s3cr@t\" refused".into(), p.as_deref()),
            "password \"***\" refused"
        );
        assert_eq!(password_of("sqlite:///tmp/x.db"), None);
        assert_eq!(password_of("mysql://root@127.0.0.1/test"), None);
    }

    #[test]
    fn only_granted_urls_open() {
        let grants = crate::Grants {
            sql_urls: vec!["sqlite::memory:".into()],
            ..Default::default()
        };
        let mut state =
            TaskState::new(&grants, &crate::Limits::default(), Some(crate::tests_io())).unwrap();
        let Err(SqlError::Denied(m)) = state.open("sqlite:///etc/passwd".into()) else {
            panic!("an ungranted URL opened");
        };
        assert!(m.contains("x-connectd-grant: sql-url"), "{m}");
        let c = state.open("sqlite::memory:".into()).unwrap();
        assert!(matches!(
            state.dialect(Resource::new_borrow(c.rep())),
            Dialect::Sqlite
        ));
    }

    /// A task granted the SQLite database `dir/t.db`, and its open connection.
    fn sqlite_task(dir: &std::path::Path) -> (TaskState, Resource<sql::Connection>) {
        let url = format!("sqlite://{}/t.db", dir.display());
        let grants = crate::Grants {
            sql_urls: vec![url.clone()],
            ..Default::default()
        };
        let mut state =
            TaskState::new(&grants, &crate::Limits::default(), Some(crate::tests_io())).unwrap();
        let c = state.open(url).unwrap();
        (state, c)
    }

    /// SQL that would open other files (ATTACH, VACUUM INTO) or load native code fails, and
    /// creates nothing outside the granted database.
    #[test]
    fn sqlite_reaches_its_own_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let (mut state, c) = sqlite_task(dir.path());
        let run = |state: &mut TaskState, sql: &str| {
            state.execute(
                Resource::new_borrow(c.rep()),
                vec![Statement {
                    sql: sql.into(),
                    params: vec![],
                }],
            )
        };
        run(&mut state, "CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
        let target = |name: &str| elsewhere.path().join(name).display().to_string();
        for sql in [
            format!("ATTACH DATABASE '{}' AS other", target("attached.db")),
            format!(
                "ATTACH DATABASE 'file:{}?mode=rwc' AS other",
                target("uri.db")
            ),
            format!("VACUUM INTO '{}'", target("copy.db")),
            "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so')".to_string(),
            format!(
                "PRAGMA temp_store_directory = '{}'",
                elsewhere.path().display()
            ),
            "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = 'x'".to_string(),
        ] {
            let refused = run(&mut state, &sql);
            assert!(refused.is_err(), "{sql} ran");
        }
        let created: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().collect();
        assert!(created.is_empty(), "files outside the grant: {created:?}");
        run(&mut state, "INSERT INTO t (id) VALUES (1)").unwrap();
    }

    #[test]
    fn transactions_run_in_order_commit_whole_and_roll_back_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut state, c) = sqlite_task(dir.path());
        let conn = || Resource::<sql::Connection>::new_borrow(c.rep());
        let statement = |sql: &str, params: Vec<sql::Value>| Statement {
            sql: sql.into(),
            params,
        };
        state
            .execute(
                conn(),
                vec![statement("CREATE TABLE t (id INTEGER PRIMARY KEY)", vec![])],
            )
            .unwrap();
        let count = |state: &mut TaskState| {
            let rows = state
                .query(conn(), statement("SELECT COUNT(*) FROM t", vec![]))
                .unwrap();
            rows.rows[0][0].clone()
        };

        let t = state.begin(conn()).unwrap();
        let tx = || Resource::<sql::Transaction>::new_borrow(t.rep());
        for id in 1..=3 {
            let insert = statement("INSERT INTO t VALUES (?)", vec![sql::Value::Int(id)]);
            state.send(tx(), vec![insert]).unwrap();
        }
        HostTransaction::commit(&mut state, tx()).unwrap();
        HostTransaction::drop(&mut state, t).unwrap();
        assert!(matches!(count(&mut state), sql::Value::Int(3)));

        // A failing statement fails the commit, and nothing of the transaction stays.
        let t = state.begin(conn()).unwrap();
        let tx = || Resource::<sql::Transaction>::new_borrow(t.rep());
        let insert = |id| statement("INSERT INTO t VALUES (?)", vec![sql::Value::Int(id)]);
        state.send(tx(), vec![insert(4), insert(1)]).unwrap();
        let err = HostTransaction::commit(&mut state, tx()).unwrap_err();
        assert!(
            matches!(err, SqlError::Statement(ref m) if m.contains("UNIQUE")),
            "{err:?}"
        );
        HostTransaction::drop(&mut state, t).unwrap();
        assert!(matches!(count(&mut state), sql::Value::Int(3)));

        // Dropped without a commit: rolled back.
        let t = state.begin(conn()).unwrap();
        state
            .send(Resource::new_borrow(t.rep()), vec![insert(5)])
            .unwrap();
        HostTransaction::drop(&mut state, t).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(matches!(count(&mut state), sql::Value::Int(3)));
    }
}
