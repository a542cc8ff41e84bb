import Foundation

/// A multi-producer, multi-consumer queue: `next` blocks until an item arrives or the queue is
/// closed and drained; with a capacity, `push` blocks while the queue is full (back-pressure).
/// Waiters are woken only when they can proceed: a full queue wakes its producers once it has
/// drained to half, so a walker far ahead of the readers does not switch threads per item.
package final class JobQueue<Item: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private var waitingConsumers = 0
    private var waitingProducers = 0

    package init(capacity: Int = .max) { self.capacity = capacity }

    private var count: Int { items.count - head }

    package func push(_ item: Item) {
        condition.lock()
        while count >= capacity {
            waitingProducers += 1
            condition.wait()
            waitingProducers -= 1
        }
        items.append(item)
        if waitingConsumers > 0 { condition.broadcast() }
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
        while head == items.count && !closed {
            waitingConsumers += 1
            condition.wait()
            waitingConsumers -= 1
        }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if waitingProducers > 0 && count <= capacity / 2 { condition.broadcast() }
        if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    /// Blocks until `close` was called (which always wakes every waiter).
    package func waitClosed() {
        condition.lock()
        while !closed { condition.wait() }
        condition.unlock()
    }
}
