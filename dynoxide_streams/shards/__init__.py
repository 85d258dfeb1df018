"""The pure model of DynamoDB Streams: identifiers, sequence numbers, shard rotation,
shard iterators and record shapes. No I/O: the engine stores what this package
decides, and every rule here is tested without a server."""
