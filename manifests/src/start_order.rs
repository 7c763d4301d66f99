//! In which order the services start: the one rule both sides apply, the packer when it reads
//! the app's config (so `watt build` refuses what the stub would refuse at boot) and the stub
//! when it boots.
//!
//! Dependencies start before their dependents, each level in parallel (Kahn's algorithm). The
//! entrypoint implicitly depends on every other service, so it never answers while one of its
//! targets is still starting; a service depending on the entrypoint is therefore a cycle.

use std::collections::HashMap;

/// A service as the order sees it.
pub struct Node<'a> {
    pub id: &'a str,
    pub dependencies: &'a [String],
}

/// Why the services cannot start in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    DuplicateId(String),
    UnknownEntrypoint(String),
    UnknownDependency {
        service: String,
        dependency: String,
    },
    /// Services that list the entrypoint, which starts after all the others.
    DependsOnEntrypoint {
        services: Vec<String>,
        entrypoint: String,
    },
    /// Services whose `dependencies` wait on each other (and those waiting on them).
    Cycle {
        stuck: Vec<String>,
    },
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DuplicateId(id) => write!(
                f,
                "two services have the id {id:?}; every service id must be unique"
            ),
            Self::UnknownEntrypoint(id) => {
                write!(f, "the entrypoint {id:?} is not one of the services")
            }
            Self::UnknownDependency {
                service,
                dependency,
            } => write!(
                f,
                "service {service:?} depends on {dependency:?}, which is not a service; fix its \
                 `dependencies`"
            ),
            Self::DependsOnEntrypoint {
                services,
                entrypoint,
            } => write!(
                f,
                "{services:?} depend on the entrypoint {entrypoint:?}, which starts after all \
                 other services, so nothing may depend on it; fix their `dependencies`"
            ),
            Self::Cycle { stuck } => write!(
                f,
                "dependency cycle among services {stuck:?}; fix `dependencies` in the app config"
            ),
        }
    }
}

impl std::error::Error for OrderError {}

/// The entrypoint's index and the start levels (indexes into `services`).
pub fn levels(services: &[Node], entrypoint: &str) -> Result<(usize, Vec<Vec<usize>>), OrderError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in services.iter().enumerate() {
        if index.insert(s.id, i).is_some() {
            return Err(OrderError::DuplicateId(s.id.to_string()));
        }
    }
    let Some(&entry) = index.get(entrypoint) else {
        return Err(OrderError::UnknownEntrypoint(entrypoint.to_string()));
    };
    let mut deps: Vec<Vec<usize>> = Vec::new();
    for s in services {
        let mut d = Vec::new();
        for dep in s.dependencies {
            match index.get(dep.as_str()) {
                Some(&j) => d.push(j),
                None => {
                    return Err(OrderError::UnknownDependency {
                        service: s.id.to_string(),
                        dependency: dep.clone(),
                    })
                }
            }
        }
        deps.push(d);
    }
    deps[entry] = (0..services.len()).filter(|&j| j != entry).collect();

    let mut levels: Vec<Vec<usize>> = Vec::new();
    let mut placed = vec![false; services.len()];
    while placed.iter().any(|p| !p) {
        let level: Vec<usize> = (0..services.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&j| placed[j]))
            .collect();
        if level.is_empty() {
            let dependents: Vec<String> = services
                .iter()
                .filter(|s| s.dependencies.iter().any(|d| d == entrypoint))
                .map(|s| s.id.to_string())
                .collect();
            if !dependents.is_empty() {
                return Err(OrderError::DependsOnEntrypoint {
                    services: dependents,
                    entrypoint: entrypoint.to_string(),
                });
            }
            // Nothing reaches the entrypoint: it waits only because the cycle does.
            return Err(OrderError::Cycle {
                stuck: (0..services.len())
                    .filter(|&i| !placed[i] && i != entry)
                    .map(|i| services[i].id.to_string())
                    .collect(),
            });
        }
        for &i in &level {
            placed[i] = true;
        }
        levels.push(level);
    }
    Ok((entry, levels))
}
