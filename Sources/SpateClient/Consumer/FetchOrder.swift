/// The order in which a consumer lists its partitions in Fetch requests.
///
/// A broker fills a Fetch response in request order and stops adding records once the response's byte limit is
/// reached (KIP-74), so a partition listed late may get nothing while those before it have records to send. As in the
/// Java consumer, the partitions that just returned records move to the back: when a response cannot hold every
/// partition's records, the others go first in the next request, and none starves.
struct FetchOrder: Sendable, Hashable {
    /// The partitions of the last ``arrange(_:)``, in fetch order, updated by ``moveToEnd(_:)``.
    private(set) var partitions: [TopicPartition] = []

    /// Puts `wanted` in fetch order and keeps that order: partitions not in the last order first (sorted), then the
    /// others in their order; partitions not wanted any more are forgotten.
    /// - Returns: `wanted`, in fetch order.
    mutating func arrange(_ wanted: some Collection<TopicPartition>) -> [TopicPartition] {
        let wanted = Set(wanted)
        let kept = self.partitions.filter { wanted.contains($0) }
        let known = Set(kept)
        self.partitions = wanted.filter { !known.contains($0) }.sorted() + kept
        return self.partitions
    }

    /// Moves `served` (partitions that returned records) to the back, in the order given; partitions not in the
    /// order are ignored.
    mutating func moveToEnd(_ served: [TopicPartition]) {
        let moved = Set(served).intersection(self.partitions)
        guard !moved.isEmpty else { return }
        var seen: Set<TopicPartition> = []
        let back = served.filter { moved.contains($0) && seen.insert($0).inserted }
        self.partitions = self.partitions.filter { !moved.contains($0) } + back
    }
}
