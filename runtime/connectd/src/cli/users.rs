//! `connectd users create|list|delete`: SCRAM users over KIP-554's AlterUserScramCredentials
//! and DescribeUserScramCredentials, like `kafka-configs --entity-type users`. The password is
//! salted and hashed here; only the salted password crosses the wire. librdkafka's admin API
//! is not wrapped by the rdkafka crate, so the request goes through connectd's own Kafka
//! connection (the group-membership client), with the TLS and SASL of the `-X` properties.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use connectd_security::scram::Mechanism;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::{Connection, TIMEOUT};

#[derive(Args, Debug)]
pub struct UsersArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Create a user, or set its password again, with SCRAM credentials.
    Create {
        /// The user name.
        user: String,
        /// The password; prefer the environment variable, which `ps` does not show.
        #[arg(long, env = "CONNECTD_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable). Default: both.
        #[arg(long = "mechanism")]
        mechanisms: Vec<String>,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = connectd_security::scram::DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// List users and their SCRAM mechanisms.
    List,
    /// Delete a user's SCRAM credentials.
    Delete {
        /// The user name.
        user: String,
        /// Only this mechanism (repeatable). Default: every one the user has.
        #[arg(long = "mechanism")]
        mechanisms: Vec<String>,
    },
}

fn mechanisms(names: &[String]) -> Result<Vec<Mechanism>> {
    if names.is_empty() {
        return Ok(Mechanism::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Mechanism::from_name(&n.to_ascii_uppercase()).with_context(|| {
                format!("--mechanism {n}: expected SCRAM-SHA-256 or SCRAM-SHA-512")
            })
        })
        .collect()
}

fn connect(conn: &Connection) -> Result<connectd_cluster::Connection> {
    let security = connectd_cluster::ClientSecurity::from_properties(&conn.properties)?;
    let mut errors = Vec::new();
    for server in conn
        .bootstrap
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match connectd_cluster::Connection::connect(server, "connectd-cli", TIMEOUT, &security) {
            Ok(c) => return Ok(c),
            Err(e) => errors.push(e.to_string()),
        }
    }
    bail!(
        "could not reach a broker ({}); check --bootstrap-server and the -X security properties",
        errors.join("; ")
    )
}

fn check(user: &str, code: i16, message: Option<&StrBytes>) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let name = kafka_protocol::ResponseError::try_from_code(code)
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| code.to_string());
    bail!(
        "user {user}: {name}: {}",
        message.map(|m| m.as_str()).unwrap_or("")
    )
}

pub fn run(args: UsersArgs) -> Result<()> {
    let mut c = connect(&args.conn)?;
    match args.action {
        Action::Create {
            user,
            password,
            mechanisms: names,
            iterations,
        } => {
            connectd_security::scram::check_iterations(iterations)?;
            if password.is_empty() {
                bail!("--password: empty");
            }
            let upsertions = mechanisms(&names)?
                .into_iter()
                .map(|m| {
                    let salt = connectd_security::scram::new_salt();
                    ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_string(user.clone()))
                        .with_mechanism(m.kip554_type())
                        .with_iterations(iterations as i32)
                        .with_salt(salt.to_vec().into())
                        .with_salted_password(
                            m.salted_password(password.as_bytes(), &salt, iterations)
                                .into(),
                        )
                })
                .collect();
            let req = AlterUserScramCredentialsRequest::default().with_upsertions(upsertions);
            let resp = c.send(&req, 0, TIMEOUT)?;
            for r in &resp.results {
                check(&user, r.error_code, r.error_message.as_ref())?;
            }
            println!("user {user} created");
        }
        Action::List => {
            let req = DescribeUserScramCredentialsRequest::default().with_users(None);
            let resp = c.send(&req, 0, TIMEOUT)?;
            check("*", resp.error_code, resp.error_message.as_ref())?;
            println!("{:<32} MECHANISMS", "USER");
            for r in &resp.results {
                let list: Vec<String> = r
                    .credential_infos
                    .iter()
                    .map(|i| {
                        let name = Mechanism::from_kip554_type(i.mechanism)
                            .map_or_else(|| i.mechanism.to_string(), |m| m.name().to_string());
                        format!("{name} (iterations {})", i.iterations)
                    })
                    .collect();
                println!("{:<32} {}", r.user.as_str(), list.join(", "));
            }
        }
        Action::Delete {
            user,
            mechanisms: names,
        } => {
            let wanted = if names.is_empty() {
                // Every mechanism the user has: ask first, so a missing one is not an error.
                let req = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                    UserName::default().with_name(StrBytes::from_string(user.clone())),
                ]));
                let resp = c.send(&req, 0, TIMEOUT)?;
                check(&user, resp.error_code, resp.error_message.as_ref())?;
                let mut found = Vec::new();
                for r in &resp.results {
                    check(&user, r.error_code, r.error_message.as_ref())?;
                    found.extend(
                        r.credential_infos
                            .iter()
                            .filter_map(|i| Mechanism::from_kip554_type(i.mechanism)),
                    );
                }
                found
            } else {
                mechanisms(&names)?
            };
            let deletions = wanted
                .into_iter()
                .map(|m| {
                    ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_string(user.clone()))
                        .with_mechanism(m.kip554_type())
                })
                .collect();
            let req = AlterUserScramCredentialsRequest::default().with_deletions(deletions);
            let resp = c.send(&req, 0, TIMEOUT)?;
            for r in &resp.results {
                check(&user, r.error_code, r.error_message.as_ref())?;
            }
            println!("user {user} deleted");
        }
    }
    Ok(())
}
