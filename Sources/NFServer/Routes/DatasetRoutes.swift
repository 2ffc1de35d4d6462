import Hummingbird
import NFDatasets

/// `GET /datasets`: the datasets of `--datasets`, listed afresh on each request (folders can
/// be added while the server runs).
struct DatasetRoutes: Sendable {
    let datasets: String

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/datasets", method: .get, table: routes) { [datasets] _, _ in
            DatasetList(datasets: DatasetCatalog(root: datasets).summaries())
        }
    }
}

struct DatasetList: ResponseEncodable {
    let datasets: [DatasetSummary]
}
