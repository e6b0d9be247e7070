//! The call graph: who calls whom (row = caller, column = callee in PetShop's matrix; X-Ray's
//! service graph edges), plus what kind of node each is. Walks are cycle-safe.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What a node is, as far as blame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An instrumented service or an AWS resource: something Argus can act on.
    Service,
    /// X-Ray's caller-side view of an endpoint (names ending `_remote` or `_client`): it
    /// measures the call as the caller saw it, not a resource of its own.
    CallerView,
}

impl NodeKind {
    /// The kind a node's name implies, following X-Ray's naming in service graphs.
    pub fn from_name(name: &str) -> Self {
        if name.ends_with("_remote") || name.ends_with("_client") {
            Self::CallerView
        } else {
            Self::Service
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallGraph {
    callees: BTreeMap<String, BTreeSet<String>>,
    kinds: BTreeMap<String, NodeKind>,
    resources: BTreeMap<String, String>,
}

impl CallGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node (kind from its name unless set later).
    pub fn add_node(&mut self, node: &str) {
        self.callees.entry(node.to_owned()).or_default();
        self.kinds
            .entry(node.to_owned())
            .or_insert_with(|| NodeKind::from_name(node));
    }

    pub fn set_kind(&mut self, node: &str, kind: NodeKind) {
        self.add_node(node);
        self.kinds.insert(node.to_owned(), kind);
    }

    /// The AWS resource (ARN or name) behind a node, when the snapshot says.
    pub fn set_resource(&mut self, node: &str, resource: &str) {
        self.add_node(node);
        self.resources.insert(node.to_owned(), resource.to_owned());
    }

    pub fn resource(&self, node: &str) -> Option<&str> {
        self.resources.get(node).map(String::as_str)
    }

    /// Adds the edge `caller → callee` (both nodes added). A self-call is kept: walks stop at
    /// nodes already seen.
    pub fn add_call(&mut self, caller: &str, callee: &str) {
        self.add_node(caller);
        self.add_node(callee);
        if let Some(set) = self.callees.get_mut(caller) {
            set.insert(callee.to_owned());
        }
    }

    pub fn contains(&self, node: &str) -> bool {
        self.callees.contains_key(node)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.callees.keys().map(String::as_str)
    }

    pub fn node_count(&self) -> usize {
        self.callees.len()
    }

    pub fn edge_count(&self) -> usize {
        self.callees.values().map(BTreeSet::len).sum()
    }

    pub fn callees(&self, node: &str) -> impl Iterator<Item = &str> {
        self.callees
            .get(node)
            .into_iter()
            .flat_map(|set| set.iter().map(String::as_str))
    }

    pub fn kind(&self, node: &str) -> NodeKind {
        self.kinds
            .get(node)
            .copied()
            .unwrap_or_else(|| NodeKind::from_name(node))
    }

    /// Every node `target` depends on, directly or through others (callee direction), without
    /// `target` itself even when a cycle leads back to it. Breadth first, each node once.
    pub fn dependencies(&self, target: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&str> = self.callees(target).collect();
        while let Some(node) = queue.pop_front() {
            if node == target || !seen.insert(node.to_owned()) {
                continue;
            }
            queue.extend(self.callees(node));
        }
        seen
    }

    /// A shortest call path from `from` to `to` (both included) going only through nodes
    /// `allowed` accepts (`from` and `to` need not), or `None`.
    pub fn path(
        &self,
        from: &str,
        to: &str,
        allowed: impl Fn(&str) -> bool,
    ) -> Option<Vec<String>> {
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue: VecDeque<&str> = VecDeque::from([from]);
        let mut seen: BTreeSet<&str> = BTreeSet::from([from]);
        while let Some(node) = queue.pop_front() {
            for callee in self.callees(node) {
                if !seen.insert(callee) {
                    continue;
                }
                previous.insert(callee, node);
                if callee == to {
                    let mut path = vec![to.to_owned()];
                    let mut cursor = to;
                    while let Some(parent) = previous.get(cursor) {
                        path.push((*parent).to_owned());
                        cursor = parent;
                    }
                    path.reverse();
                    return Some(path);
                }
                if allowed(callee) {
                    queue.push_back(callee);
                }
            }
        }
        None
    }
}
