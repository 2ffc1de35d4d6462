import Foundation

/// The ImageNet-1k class names, used for a 1000-class checkpoint without `label_names`
/// (timm's Hub checkpoints carry none). Shipped as data: Resources/imagenet1k_labels.txt,
/// one name per line in class-index order.
public enum ImageNetLabels {
    public static let names: [String] = {
        guard let url = Bundle.module.url(forResource: "imagenet1k_labels", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }()
}
