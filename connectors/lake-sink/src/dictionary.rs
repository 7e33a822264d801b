//! Which columns of a Parquet file are dictionary-encoded, decided on the file's first chunk of
//! rows, as parquet-mr (the encoder behind Kafka Connect's S3 and HDFS sinks) decides on a
//! column's first page: the dictionary stays only if the distinct values plus their indices
//! take less room than the values written plainly. A nearly unique column (an id, an amount,
//! a timestamp) is then written plainly instead of interned value by value into a dictionary
//! as large as the column, which the encoder would only give up past its 1 MiB limit.
//!
//! The first chunk is the same rows in a replay (chunks count from the row group's start), so
//! the decision, and the file's bytes, are too.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::file::properties::WriterPropertiesBuilder;
use parquet::schema::types::ColumnPath;

/// Turns the dictionary off for every top-level column of `chunk` that it would not shrink.
/// Nested columns, booleans (never dictionary-encoded) and columns of nulls keep the default.
pub fn choose(mut props: WriterPropertiesBuilder, chunk: &RecordBatch) -> WriterPropertiesBuilder {
    for (field, array) in chunk.schema().fields().iter().zip(chunk.columns()) {
        if pays(array.as_ref()) == Some(false) {
            props = props
                .set_column_dictionary_enabled(ColumnPath::new(vec![field.name().clone()]), false);
        }
    }
    props
}

/// Whether a dictionary would make the column smaller (`None`: not a column this decides).
fn pays(array: &dyn Array) -> Option<bool> {
    match array.data_type() {
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            // Plainly, each string is its length (4 bytes) and its bytes.
            shrinks(strings.iter().flatten().map(str::as_bytes), 4)
        }
        t => {
            let width = t.primitive_width()?;
            let data = array.to_data();
            let values = data.buffers().first()?.as_slice();
            let values = values.get(data.offset() * width..)?;
            let valid = (0..array.len()).filter(|&i| array.is_valid(i));
            shrinks(
                valid.filter_map(|i| values.get(i * width..(i + 1) * width)),
                0,
            )
        }
    }
}

/// Whether `distinct values + one index per value` is smaller than `all values`, each value
/// taking its bytes plus `overhead`.
fn shrinks<'a>(values: impl Iterator<Item = &'a [u8]>, overhead: usize) -> Option<bool> {
    let mut distinct = HashSet::new();
    let (mut count, mut plain, mut dictionary) = (0usize, 0usize, 0usize);
    for v in values {
        count += 1;
        plain += v.len() + overhead;
        if distinct.insert(v) {
            dictionary += v.len() + overhead;
        }
    }
    if count == 0 {
        return None;
    }
    // Indices are bit-packed at the width of the largest index.
    let bits = usize::BITS - (distinct.len() - 1).leading_zeros();
    let indices = (count * bits as usize).div_ceil(8);
    Some(dictionary + indices < plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};

    #[test]
    fn unique_values_are_written_plainly_and_repeated_ones_keep_the_dictionary() {
        let ids = Int64Array::from_iter_values(0..1000);
        let repeated = Int64Array::from_iter((0..1000).map(|i| (i % 3 != 0).then_some(i % 10)));
        let amounts = Float64Array::from_iter_values((0..1000).map(|i| i as f64 * 1.5));
        let users: StringArray = (0..1000)
            .map(|i| Some(format!("user_{}", i % 100)))
            .collect();
        let names: StringArray = (0..1000).map(|i| Some(format!("name_{i}"))).collect();
        let flags = BooleanArray::from_iter((0..1000).map(|i| Some(i % 2 == 0)));
        assert_eq!(pays(&ids), Some(false));
        assert_eq!(pays(&repeated), Some(true));
        assert_eq!(pays(&amounts), Some(false));
        assert_eq!(pays(&users), Some(true));
        assert_eq!(pays(&names), Some(false));
        assert_eq!(pays(&flags), None);
        assert_eq!(pays(&Int64Array::from(vec![None::<i64>; 5])), None);
        // A slice reads its own values, not the buffer's first ones.
        let sliced = Int64Array::from_iter_values((0..1000).map(|i| if i < 500 { 7 } else { i }));
        assert_eq!(pays(&sliced.slice(0, 500)), Some(true));
        assert_eq!(pays(&sliced.slice(500, 500)), Some(false));
    }
}
