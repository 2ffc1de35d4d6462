/// Maps a dataset's labels onto a model's class indices (docs/api.md: ImageFolder labels are matched
/// to the model's `label_names` by name, else by sorted order). Names match ignoring case and
/// any character that is not a letter or digit, so the folder "T-shirt-top" (a file name cannot
/// hold '/') is the class "T-shirt/top".
public func labelMapping(datasetClasses: [String]?, modelLabels: [String]) -> (Int) -> Int? {
    guard let classes = datasetClasses else { return { $0 } }
    func key(_ s: String) -> String { String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }
    let index = Dictionary(modelLabels.enumerated().map { (key($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
    let byName = classes.map { index[key($0)] }
    if byName.allSatisfy({ $0 != nil }) { return { byName[$0] } }
    return { $0 }
}
