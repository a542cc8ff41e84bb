import Foundation

/// A multi-producer, multi-consumer queue: `next` blocks until an item arrives or the queue is
/// closed and drained; with a capacity, `push` blocks while the queue is full (back-pressure).
/// Waiters are woken only when they can proceed: a full queue wakes its producers once it has
/// drained to half, so a walker far ahead of the readers does not switch threads per item.
///
/// With a backlog limit, items carry a weight (a file's size) and `action` runs once, the first
/// time the items waiting reach `items` or their weight reaches `weight` (a second consumer is
/// started only when there is enough work for it).
package final class JobQueue<Item: Sendable>: @unchecked Sendable {
    package struct Backlog: Sendable {
        package var items: Int
        package var weight: Int64
        package var action: @Sendable () -> Void

        package init(items: Int, weight: Int64, action: @escaping @Sendable () -> Void) {
            self.items = items
            self.weight = weight
            self.action = action
        }
    }

    private let condition = NSCondition()
    private var items: [(item: Item, weight: Int64)] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private var waitingConsumers = 0
    private var waitingProducers = 0
    private var backlog: Backlog?
    private var weight: Int64 = 0

    package init(capacity: Int = .max) { self.capacity = capacity }

    private var count: Int { items.count - head }

    /// Sets the backlog limit (see the type's comment); replaces one not yet reached.
    package func whenBacklogged(_ limit: Backlog) {
        condition.lock()
        backlog = limit
        condition.unlock()
    }

    package func push(_ item: Item, weight itemWeight: Int64 = 0) {
        condition.lock()
        var fire: (@Sendable () -> Void)?
        if let limit = backlog, count + 1 >= limit.items || weight + itemWeight >= limit.weight {
            fire = limit.action
            backlog = nil
        }
        if let fire {
            // Run outside the lock (it may start consumers), before this push can block.
            condition.unlock()
            fire()
            condition.lock()
        }
        while count >= capacity {
            waitingProducers += 1
            condition.wait()
            waitingProducers -= 1
        }
        items.append((item, itemWeight))
        weight += itemWeight
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
        let (item, itemWeight) = items[head]
        head += 1
        weight -= itemWeight
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
