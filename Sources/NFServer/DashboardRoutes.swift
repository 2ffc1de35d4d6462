import Foundation
import Hummingbird

/// `GET /`: the page in `Resources/Public/index.html` with a table of the models filled in
/// (a placeholder until the dashboard lands).
struct DashboardRoutes: Sendable {
    let store: ModelStore

    static let template: String = {
        guard let url = Bundle.module.url(forResource: "index", withExtension: "html", subdirectory: "Resources/Public"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            return "<!doctype html><title>nfserve</title><h1>nfserve</h1><table>{{models}}</table>"
        }
        return text
    }()

    func add(to router: Router<ServerRequestContext>, routes: RouteTable) {
        router.on("/", method: .get, table: routes) { _, _ in
            let rows = store.entries.map(Self.row).joined(separator: "\n")
            let page = Self.template.replacingOccurrences(of: "{{models}}", with: rows)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: page)))
        }
    }

    private static func row(_ entry: ModelStore.Entry) -> String {
        let status = entry.status.name
        var cells = [escape(entry.name), "<span class=\"\(status)\">\(status)</span>"]
        switch entry.status {
        case let .ready(model):
            cells += [model.classifier.architecture, String(model.numClasses),
                      model.inputSize.map(String.init).joined(separator: "×"), model.classifier.normalizationKind.rawValue,
                      String(model.classifier.parameterCount), String(format: "%.3f", Double(model.flops) / 1e9)].map(escape)
        case let .failed(reason), let .unloaded(reason):
            return "<tr><td>\(cells[0])</td><td>\(cells[1])</td><td colspan=\"6\" class=\"failed\">\(escape(reason))</td></tr>"
        case .loading:
            break
        }
        return "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
