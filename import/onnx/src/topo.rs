//! Orders nodes so that each comes after the producers of its inputs, and
//! finds inputs nothing produces, values produced twice, and cycles.

use crate::error::OnnxError;
use crate::graph::Node;
use std::collections::{HashMap, HashSet};

/// Returns `nodes` in topological order (stable: file order among ready
/// nodes). `available` are the names known before any node runs (graph
/// inputs and initializers).
pub(crate) fn sort(nodes: Vec<Node>, available: &HashSet<String>) -> Result<Vec<Node>, OnnxError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if available.contains(o) {
                return Err(n.error(format!(
                    "output `{o}` has the name of a graph input or initializer"
                )));
            }
            if producer.insert(o, i).is_some() {
                return Err(n.error(format!("output `{o}` is produced by another node too")));
            }
        }
    }
    let mut waiting = vec![0usize; nodes.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for x in n.inputs.iter().filter(|x| !x.is_empty()) {
            if available.contains(x) {
                continue;
            }
            match producer.get(x.as_str()) {
                Some(&p) => {
                    waiting[i] += 1;
                    consumers[p].push(i);
                }
                None => {
                    return Err(n.error(format!(
                        "input `{x}` is not a graph input, an initializer or any node's output"
                    )));
                }
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &consumers[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| waiting[i] > 0).unwrap_or(0);
        return Err(nodes[stuck]
            .error("is part of a cycle: it depends, through other nodes, on its own output"));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
