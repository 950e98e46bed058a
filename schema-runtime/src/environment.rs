//! Which environment a run belongs to, and where that came from.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The environment a process runs in. It decides what startup may do (see [`Policy`](crate::Policy)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Environment {
    /// A developer's machine: migrations, seeds on request, destructive commands allowed.
    Development,
    /// Automated tests: migrations, no seeds.
    Test,
    /// Production: migrations only, with a backup first; seeds and destructive commands refused.
    Production,
}

/// The values `APP_ENV` accepts, for messages.
pub const VALID_APP_ENV: &str = "development (or dev), test, production (or prod)";

impl Environment {
    /// The canonical name: `development`, `test` or `production`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;

    /// Parses `development`/`dev`, `test`, `production`/`prod` (any case, surrounding
    /// white space ignored).
    ///
    /// ```
    /// use schema_runtime::Environment;
    ///
    /// assert_eq!("prod".parse::<Environment>().unwrap(), Environment::Production);
    /// let error = "staging".parse::<Environment>().unwrap_err().to_string();
    /// assert!(error.contains("development (or dev), test, production (or prod)"));
    /// ```
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err(Error::InvalidEnvironment {
                value: value.to_owned(),
            }),
        }
    }
}

/// Where the environment of a run came from; startup logs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvironmentSource {
    /// The `APP_ENV` variable, with the value it had.
    AppEnv(String),
    /// `APP_ENV` unset in a debug build.
    DebugBuildDefault,
    /// `APP_ENV` unset in a release build.
    ReleaseBuildDefault,
    /// Set in code with [`Policy::new`](crate::Policy::new).
    Code,
}

impl fmt::Display for EnvironmentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvironmentSource::AppEnv(value) => write!(f, "APP_ENV={value}"),
            EnvironmentSource::DebugBuildDefault => f.write_str("APP_ENV unset, debug build"),
            EnvironmentSource::ReleaseBuildDefault => f.write_str("APP_ENV unset, release build"),
            EnvironmentSource::Code => f.write_str("set in code"),
        }
    }
}

/// Resolves the environment from the value of `APP_ENV` (if set) and the build profile.
pub fn resolve(
    app_env: Option<&str>,
    debug_build: bool,
) -> Result<(Environment, EnvironmentSource), Error> {
    match app_env {
        Some(value) => Ok((value.parse()?, EnvironmentSource::AppEnv(value.to_owned()))),
        None if debug_build => Ok((
            Environment::Development,
            EnvironmentSource::DebugBuildDefault,
        )),
        None => Ok((
            Environment::Production,
            EnvironmentSource::ReleaseBuildDefault,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_follows_the_build_profile() {
        assert_eq!(resolve(None, true).unwrap().0, Environment::Development);
        assert_eq!(resolve(None, false).unwrap().0, Environment::Production);
        assert_eq!(
            resolve(None, false).unwrap().1.to_string(),
            "APP_ENV unset, release build"
        );
    }

    #[test]
    fn app_env_wins_and_is_named() {
        let (environment, source) = resolve(Some("Test"), false).unwrap();
        assert_eq!(environment, Environment::Test);
        assert_eq!(source.to_string(), "APP_ENV=Test");
        for (value, expected) in [
            ("dev", Environment::Development),
            (" production ", Environment::Production),
        ] {
            assert_eq!(resolve(Some(value), true).unwrap().0, expected);
        }
    }

    #[test]
    fn anything_else_lists_the_valid_values() {
        let error = resolve(Some("staging"), true).unwrap_err().to_string();
        assert_eq!(
            error,
            "APP_ENV=`staging` is not an environment; use one of: development (or dev), test, production (or prod)"
        );
    }
}
