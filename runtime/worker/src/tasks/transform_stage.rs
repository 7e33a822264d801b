//! The transform stage, the same for both directions: a source task runs it between the poll
//! and routing, a sink task between the read and `put`.
//!
//! A connector's transform chain, as one task runs it: each step is its own transform instance
//! (own store and limits); a batch passes through the steps in order. A record a step fails
//! goes to the error handler ([`RetryWithTolerance`]: skipped, logged or sent to the dead
//! letter queue as `errors.*` says) as it was before the chain.

use std::sync::Arc;

use connectd_host::{Limits, Plugin, TaskError, Transformer};
use connectd_records::ConnectRecord;

use crate::connectors::config::TransformConfig;
use crate::tasks::retry_with_tolerance::{Failed, RetryWithTolerance, Stage};

/// A transform step before it is opened: its config and its plugin.
#[derive(Clone)]
pub(crate) struct TransformSpec {
    pub config: TransformConfig,
    pub plugin: Arc<Plugin>,
}

/// An opened chain.
pub(crate) struct Chain {
    steps: Vec<(String, Transformer)>,
}

/// A record and the index of the input record it came from.
pub(crate) type Indexed = (usize, ConnectRecord);

/// The index of an input record that failed, the alias of the step it failed in, and why.
type StepFailure = (usize, String, TaskError);

impl Chain {
    /// Opens every step; an error names the step's alias.
    pub(crate) fn open(specs: &[TransformSpec], limits: &Limits) -> Result<Chain, TaskError> {
        let mut steps = Vec::with_capacity(specs.len());
        for spec in specs {
            let alias = &spec.config.alias;
            let t = spec
                .plugin
                .open_transform(spec.config.config.clone(), limits)
                .map_err(|e| match e {
                    TaskError::InvalidConfig(m) => TaskError::InvalidConfig(format!(
                        "transform {alias:?} (key `transforms.{alias}.*`): {m}"
                    )),
                    other => other,
                })?;
            steps.push((alias.clone(), t));
        }
        Ok(Chain { steps })
    }

    /// Whether there is nothing to do.
    fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs a batch through every step. Returns the records that came out (with the index of
    /// the input record each came from) and the indexes of the ones that failed, with why.
    /// `Err` is a trap: the chain is unusable afterwards.
    fn apply(
        &mut self,
        batch: Vec<ConnectRecord>,
    ) -> Result<(Vec<Indexed>, Vec<StepFailure>), TaskError> {
        let mut records: Vec<Indexed> = batch.into_iter().enumerate().collect();
        let mut failed = Vec::new();
        for (alias, step) in &mut self.steps {
            if records.is_empty() {
                break;
            }
            let (indexes, input): (Vec<usize>, Vec<ConnectRecord>) = records.into_iter().unzip();
            let out = step.apply(input)?;
            if out.len() != indexes.len() {
                return Err(TaskError::Fatal(format!(
                    "transform {alias:?} answered {} results for {} records",
                    out.len(),
                    indexes.len()
                )));
            }
            records = Vec::with_capacity(indexes.len());
            for (i, result) in indexes.into_iter().zip(out) {
                match result {
                    Ok(Some(r)) => records.push((i, r)),
                    Ok(None) => {}
                    Err(e) => failed.push((i, alias.clone(), e)),
                }
            }
        }
        Ok((records, failed))
    }
}

/// A batch the transform stage can run: a source's poll or a sink's read.
pub(crate) trait Transformable: Sized {
    /// The batch's records as the transforms and the dead letter queue see them.
    fn records(&self) -> Vec<ConnectRecord>;

    /// The batch of what the chain kept, each record with the index of the input record it
    /// came from, so it keeps what a transform may not change (where a sink read it; the
    /// source partition and position a source polled it with).
    fn kept(self, kept: Vec<Indexed>) -> Self;
}

impl Chain {
    /// Runs a batch through the chain. Records a step fails go to `errors`, as they were
    /// before the chain; `Err` is a trap, or a failure `errors.tolerance` does not allow.
    pub(crate) fn run<B: Transformable>(
        &mut self,
        batch: B,
        errors: &mut RetryWithTolerance,
    ) -> Result<B, TaskError> {
        if self.is_empty() {
            return Ok(batch);
        }
        let originals = batch.records();
        let (kept, failed) = self.apply(originals.clone())?;
        let failed = failed
            .into_iter()
            .map(|(i, alias, error)| {
                Failed::new(originals[i].clone(), Stage::Transformation, alias, error)
            })
            .collect();
        errors.handle(failed)?;
        Ok(batch.kept(kept))
    }
}
