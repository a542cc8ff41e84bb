import Foundation

/// A multi-producer, multi-consumer queue: `next` blocks until an item arrives or the queue is
/// closed and drained; with a capacity, `push` blocks while the queue is full (back-pressure).
package final class JobQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var closed = false
    private let capacity: Int

    package init(capacity: Int = .max) { self.capacity = capacity }

    package func push(_ item: Item) {
        condition.lock()
        while items.count - head >= capacity { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    package func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    package func next() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !closed { condition.wait() }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if capacity != .max { condition.broadcast() }
        if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    /// Blocks until `close` was called.
    package func waitClosed() {
        condition.lock()
        while !closed { condition.wait() }
        condition.unlock()
    }
}
