import Foundation
import LockstepCore
import Synchronization
import Testing

@Suite("JobQueue")
struct JobQueueTests {
    @Test("items come out in order; next returns nil once closed and drained")
    func order() {
        let queue = JobQueue<Int>(capacity: 4)
        let out = Mutex([Int]())
        let done = DispatchSemaphore(value: 0)
        Thread {
            while let item = queue.next() { out.withLock { $0.append(item) } }
            done.signal()
        }.start()
        for i in 0..<100 { queue.push(i) }  // blocks while 4 wait: back-pressure
        queue.close()
        done.wait()
        #expect(out.withLock { $0 } == Array(0..<100))
    }

    @Test("the backlog action runs once, when the waiting items or their weight reach the limit")
    func backlog() {
        let fired = Atomic(0)
        let byCount = JobQueue<Int>()
        byCount.whenBacklogged(.init(items: 3, weight: 1000) { fired.add(1, ordering: .relaxed) })
        byCount.push(1, weight: 10)
        _ = byCount.next()
        byCount.push(2, weight: 10)
        byCount.push(3, weight: 10)
        #expect(fired.load(ordering: .relaxed) == 0)  // two wait: below both limits
        byCount.push(4, weight: 10)
        #expect(fired.load(ordering: .relaxed) == 1)
        for i in 5..<20 { byCount.push(i, weight: 10) }
        #expect(fired.load(ordering: .relaxed) == 1)

        let byWeight = JobQueue<Int>()
        byWeight.whenBacklogged(.init(items: 100, weight: 1000) { fired.add(10, ordering: .relaxed) })
        byWeight.push(1, weight: 600)
        _ = byWeight.next()  // its weight leaves with it
        byWeight.push(2, weight: 600)
        #expect(fired.load(ordering: .relaxed) == 1)
        byWeight.push(3, weight: 400)
        #expect(fired.load(ordering: .relaxed) == 11)
    }
}
