//! Creating both tables as Terraform does, for local emulators and tests.

use super::*;

/// Creates both tables as Terraform does (keys, GSIs), for local emulators and tests.
pub async fn create_tables(
    client: &Client,
    incidents_table: &str,
    patterns_table: &str,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key_element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let index = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key_element(pk, KeyType::Hash)?)
            .key_schema(key_element(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)
    };
    client
        .create_table()
        .table_name(incidents_table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![
            attribute(PARTITION_KEY)?,
            attribute(SORT_KEY)?,
            attribute(BY_RESOURCE_PK)?,
            attribute(BY_RESOURCE_SK)?,
            attribute(BY_STATUS_PK)?,
            attribute(BY_STATUS_SK)?,
            attribute(BY_DUE_PK)?,
            attribute(BY_DUE_SK)?,
        ]))
        .key_schema(key_element(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key_element(SORT_KEY, KeyType::Range)?)
        .global_secondary_indexes(index(BY_RESOURCE_INDEX, BY_RESOURCE_PK, BY_RESOURCE_SK)?)
        .global_secondary_indexes(index(BY_STATUS_INDEX, BY_STATUS_PK, BY_STATUS_SK)?)
        .global_secondary_indexes(index(BY_DUE_INDEX, BY_DUE_PK, BY_DUE_SK)?)
        .send()
        .await
        .map_err(|error| sdk_error(&error))?;
    client
        .create_table()
        .table_name(patterns_table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![attribute(PARTITION_KEY)?, attribute(SORT_KEY)?]))
        .key_schema(key_element(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key_element(SORT_KEY, KeyType::Range)?)
        .send()
        .await
        .map_err(|error| sdk_error(&error))?;
    Ok(())
}
