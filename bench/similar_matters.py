"""The matters behind tests/data/similar_vi.jsonl: each is one real-world problem as three members
would write it (a full sentence, a chatty one, a telegraphic one), with its category and unit.

Written for the evaluation, not taken from real reports. Several matters share a unit or a
category on purpose (wages late at two different factories, two problems at one hospital), so a
pair from the same place or the same category is not a duplicate by itself.
"""

from __future__ import annotations

# (key, category, unit, [three ways of writing the same matter])
MATTERS: list[tuple[str, str, str, list[str]]] = [
    # -- workplace ---------------------------------------------------------------------------
    (
        "wages-hoatho",
        "workplace",
        "Chi bộ Công ty CP Dệt may Hòa Thọ",
        [
            "Công ty may Hòa Thọ đã chậm trả lương tháng 10 cho công nhân phân xưởng 3 hơn hai tuần, nhiều người phải vay mượn để sống.",
            "Anh em xưởng 3 bên Hòa Thọ đến giờ vẫn chưa nhận được lương tháng mười, hỏi thì quản lý bảo chờ thêm, mọi người rất bức xúc.",
            "Hòa Thọ nợ lương T10 công nhân xưởng 3, quá hạn 2 tuần chưa trả.",
        ],
    ),
    (
        "wages-phuoc",
        "workplace",
        "Chi bộ Công ty TNHH Giày Phước Lộc",
        [
            "Công ty giày Phước Lộc thông báo dời ngày trả lương tháng 10 sang cuối tháng 11 mà không nêu lý do, công nhân lo lắng.",
            "Bên Phước Lộc làm giày lại hoãn lương, bảo tháng 10 thì cuối tháng 11 mới phát, chẳng ai giải thích gì cả.",
            "Giày Phước Lộc hoãn phát lương tháng 10 tới cuối tháng 11, không rõ lý do.",
        ],
    ),
    (
        "canteen-hoatho",
        "workplace",
        "Chi bộ Công ty CP Dệt may Hòa Thọ",
        [
            "Bữa ăn ca ở nhà ăn công ty Hòa Thọ ngày càng kém, cơm thiu, thức ăn ít, hôm qua có mấy chị bị đau bụng phải nghỉ làm.",
            "Cơm căng tin Hòa Thọ dạo này tệ quá, có hôm cơm bị thiu, hôm qua mấy chị em ăn xong đau bụng phải xin về.",
            "Nhà ăn Hòa Thọ: cơm thiu, suất ăn ít, nhiều CN đau bụng sau bữa ca.",
        ],
    ),
    (
        "overtime-phuoc",
        "workplace",
        "Chi bộ Công ty TNHH Giày Phước Lộc",
        [
            "Công nhân Phước Lộc bị bắt tăng ca đến 10 giờ đêm liên tục cả tháng, ai từ chối thì bị trừ thưởng chuyên cần.",
            "Ở Phước Lộc tuần nào cũng phải làm thêm tới 22h, không làm là bị cắt tiền chuyên cần, mệt mà không dám nói.",
            "Phước Lộc ép tăng ca tới 22h cả tháng, không làm bị trừ chuyên cần.",
        ],
    ),
    (
        "bhxh-sunrise",
        "workplace",
        "Chi bộ Công ty TNHH Điện tử Sunrise",
        [
            "Công ty điện tử Sunrise trừ tiền bảo hiểm xã hội hằng tháng trong lương nhưng tra cứu thì thấy đã nợ đóng từ đầu năm.",
            "Tôi làm ở Sunrise, tháng nào cũng bị trừ bảo hiểm mà lên app VssID xem thì công ty chưa đóng từ tháng 1 tới giờ.",
            "Sunrise trừ BHXH của CN nhưng không nộp, nợ từ tháng 1.",
        ],
    ),
    (
        "layoff-sunrise",
        "workplace",
        "Chi bộ Công ty TNHH Điện tử Sunrise",
        [
            "Sunrise vừa cho khoảng 200 công nhân nghỉ việc không báo trước, không trả trợ cấp thôi việc theo quy định.",
            "Nghe nói Sunrise cắt giảm cả trăm người, mọi người bị cho nghỉ đột ngột, không được đồng trợ cấp nào.",
            "Sunrise cho thôi việc ~200 CN đột ngột, không trợ cấp.",
        ],
    ),
    (
        "heat-anphat",
        "workplace",
        "Chi bộ Công ty CP Nhựa An Phát",
        [
            "Xưởng ép nhựa của An Phát nóng quá 40 độ, quạt hỏng không sửa, đã có hai công nhân bị ngất trong tuần này.",
            "Trong xưởng nhựa An Phát nóng như lò, quạt hư cả tháng chưa ai sửa, tuần này có 2 người xỉu.",
            "Xưởng nhựa An Phát >40 độ, quạt hư, 2 CN ngất.",
        ],
    ),
    (
        "wages-anphat-contract",
        "workplace",
        "Chi bộ Công ty CP Nhựa An Phát",
        [
            "Công ty An Phát ký hợp đồng ngắn hạn 3 tháng liên tục với công nhân để né việc ký hợp đồng không xác định thời hạn.",
            "Làm ở An Phát ba năm rồi mà cứ ba tháng ký lại hợp đồng một lần, công ty cố tình không cho ký dài hạn.",
            "An Phát ký HĐ 3 tháng nối tiếp, né HĐ không thời hạn.",
        ],
    ),
    # -- security ---------------------------------------------------------------------------
    (
        "flood-road-hoakhanh",
        "security",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        [
            "Đoạn đường Nguyễn Lương Bằng gần chợ Hòa Khánh ngập sâu nửa mét sau mỗi trận mưa, xe máy chết máy hàng loạt, rất nguy hiểm.",
            "Cứ mưa là đường Nguyễn Lương Bằng chỗ chợ Hòa Khánh ngập tới đầu gối, xe chết máy đầy đường.",
            "Đường NLB gần chợ Hòa Khánh ngập 0,5m mỗi khi mưa, xe chết máy.",
        ],
    ),
    (
        "streetlight-hoakhanh",
        "security",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        [
            "Hệ thống đèn đường trên kiệt 52 Âu Cơ bị hỏng cả tháng nay, buổi tối tối om, đã xảy ra hai vụ giật túi xách.",
            "Kiệt 52 Âu Cơ mất đèn đường cả tháng, tối đi rất sợ, mấy hôm trước có người bị giật túi.",
            "Kiệt 52 Âu Cơ hỏng đèn đường 1 tháng, 2 vụ giật túi.",
        ],
    ),
    (
        "racing-bridge",
        "security",
        "Đoàn thanh niên phường Thuận Phước",
        [
            "Tối thứ bảy nào cũng có nhóm thanh niên tụ tập đua xe trên cầu Thuận Phước, nẹt pô ầm ĩ, người đi đường rất hoảng sợ.",
            "Mấy đứa thanh niên cuối tuần kéo nhau lên cầu Thuận Phước đua xe, rú ga inh ỏi, công an chưa thấy xử lý.",
            "Đua xe trái phép cầu Thuận Phước tối T7 hằng tuần.",
        ],
    ),
    (
        "landslide-hoabac",
        "security",
        "Chi bộ thôn Tà Lang, xã Hòa Bắc",
        [
            "Sườn đồi phía trên thôn Tà Lang có vết nứt dài sau đợt mưa lớn, năm hộ dân phía dưới có nguy cơ bị sạt lở vùi lấp.",
            "Trên đồi sau thôn Tà Lang xuất hiện vết nứt to lắm, mấy nhà ở dưới chân đồi sợ sạt, cần di dời gấp.",
            "Tà Lang: nứt sườn đồi sau mưa, 5 hộ nguy cơ sạt lở.",
        ],
    ),
    (
        "gambling-hoabac",
        "security",
        "Chi bộ thôn Tà Lang, xã Hòa Bắc",
        [
            "Ở quán cà phê đầu thôn Tà Lang có tổ chức đánh bạc ăn tiền gần như mỗi tối, thanh niên trong thôn tham gia đông.",
            "Quán cà phê đầu thôn Tà Lang tối nào cũng sát phạt bài bạc, lôi kéo cả mấy em còn đi học.",
            "Đánh bạc ăn tiền tại quán cafe đầu thôn Tà Lang hằng tối.",
        ],
    ),
    (
        "fire-market",
        "security",
        "Chi bộ Ban quản lý chợ Cồn",
        [
            "Khu hàng vải trong chợ Cồn câu mắc điện chằng chịt, bình chữa cháy hết hạn, nếu xảy ra cháy sẽ rất nghiêm trọng.",
            "Dây điện trong dãy bán vải chợ Cồn đấu nối lung tung, bình cứu hỏa thì hết hạn từ lâu, nguy cơ cháy lớn.",
            "Chợ Cồn khu vải: điện câu mắc bừa, bình PCCC hết hạn.",
        ],
    ),
    (
        "theft-market",
        "security",
        "Chi bộ Ban quản lý chợ Cồn",
        [
            "Gần đây ở bãi giữ xe chợ Cồn liên tục bị mất trộm xe máy, bảo vệ không chịu trách nhiệm, tiểu thương rất lo.",
            "Bãi xe chợ Cồn tháng này mất mấy chiếc xe máy rồi, hỏi bảo vệ thì họ đùn đẩy, không ai đền.",
            "Mất trộm xe máy nhiều vụ ở bãi xe chợ Cồn, bảo vệ né trách nhiệm.",
        ],
    ),
    (
        "flood-road-lienchieu",
        "security",
        "Chi bộ khu dân cư Hòa Minh",
        [
            "Đường Tôn Đức Thắng đoạn trước trường Hòa Minh ngập nặng mỗi khi mưa lớn, học sinh phải lội nước đi học.",
            "Mưa xuống là khúc Tôn Đức Thắng trước cổng trường Hòa Minh thành sông, mấy đứa nhỏ lội nước tới trường.",
            "TĐT trước trường Hòa Minh ngập khi mưa, HS lội nước.",
        ],
    ),
    # -- discipline -------------------------------------------------------------------------
    (
        "cadre-bribe-ward",
        "discipline",
        "Chi bộ khu dân cư Hòa Minh",
        [
            "Cán bộ địa chính phường Hòa Minh gợi ý người dân đưa tiền bồi dưỡng thì mới làm nhanh hồ sơ cấp sổ đỏ.",
            "Làm sổ đỏ ở phường Hòa Minh, anh cán bộ địa chính nói muốn nhanh thì phải có chút cà phê, không thì chờ dài.",
            "Cán bộ ĐC phường Hòa Minh đòi tiền 'bồi dưỡng' khi làm sổ đỏ.",
        ],
    ),
    (
        "cadre-rude-ward",
        "discipline",
        "Chi bộ khu dân cư Hòa Minh",
        [
            "Một cán bộ bộ phận một cửa phường Hòa Minh có thái độ quát nạt, hách dịch với người già đến làm thủ tục.",
            "Chị cán bộ ngồi một cửa ở phường Hòa Minh nói chuyện với các cụ rất khó nghe, quát tháo như mắng con.",
            "Cán bộ một cửa P. Hòa Minh hách dịch, quát người cao tuổi.",
        ],
    ),
    (
        "car-private-dept",
        "discipline",
        "Đảng bộ Sở Giao thông vận tải",
        [
            "Lãnh đạo một phòng thuộc Sở Giao thông vận tải dùng xe công đưa đón con đi học hằng ngày.",
            "Sáng nào cũng thấy xe biển xanh của Sở Giao thông chở con ông trưởng phòng tới trường, việc riêng mà dùng xe công.",
            "Trưởng phòng Sở GTVT dùng xe công đưa đón con đi học.",
        ],
    ),
    (
        "tender-dept",
        "discipline",
        "Đảng bộ Sở Giao thông vận tải",
        [
            "Gói thầu sửa chữa đường tỉnh 601 có dấu hiệu thông thầu, công ty trúng thầu là của người nhà một cán bộ Sở Giao thông.",
            "Nghe anh em nói gói sửa đường ĐT601 được dàn xếp trước, doanh nghiệp thắng thầu là của em vợ một cán bộ trong Sở.",
            "Thầu sửa ĐT601 nghi thông thầu, DN trúng là người nhà cán bộ Sở GTVT.",
        ],
    ),
    (
        "fund-commune",
        "discipline",
        "Chi bộ thôn Tà Lang, xã Hòa Bắc",
        [
            "Khoản tiền hỗ trợ hộ nghèo ăn Tết năm nay của thôn Tà Lang bị trưởng thôn chia không công khai, nhiều hộ nghèo không nhận được.",
            "Tiền Tết cho hộ nghèo ở Tà Lang ông trưởng thôn phát cho người quen, còn mấy nhà nghèo thật thì không có.",
            "Trưởng thôn Tà Lang chia tiền hỗ trợ Tết hộ nghèo không minh bạch.",
        ],
    ),
    (
        "party-drink",
        "discipline",
        "Chi bộ Văn phòng UBND tỉnh",
        [
            "Một số cán bộ Văn phòng UBND tỉnh uống rượu bia vào buổi trưa rồi quay lại làm việc, người dân đến liên hệ ngửi thấy mùi rượu.",
            "Trưa nào mấy anh bên văn phòng UBND tỉnh cũng nhậu, chiều về phòng làm việc người nồng nặc mùi bia.",
            "CB VP UBND tỉnh nhậu trưa rồi về làm việc.",
        ],
    ),
    (
        "late-office",
        "discipline",
        "Chi bộ Văn phòng UBND tỉnh",
        [
            "Tình trạng cán bộ đi muộn về sớm ở Văn phòng UBND tỉnh kéo dài, người dân đến lúc 8 giờ sáng không có ai tiếp.",
            "Tám giờ sáng tới văn phòng UBND tỉnh mà phòng trống trơn, 9h mới lác đác có người, chiều 4h đã về.",
            "VP UBND tỉnh: CB đi muộn về sớm, 8h sáng chưa có người tiếp dân.",
        ],
    ),
    (
        "exam-cheat",
        "discipline",
        "Đảng bộ Sở Giáo dục và Đào tạo",
        [
            "Có dấu hiệu lộ đề trong kỳ thi tuyển viên chức giáo viên của Sở Giáo dục, nhiều thí sinh có đáp án trước giờ thi.",
            "Kỳ thi tuyển giáo viên năm nay nghe nói bị lộ đề, có người đã cầm đáp án từ tối hôm trước.",
            "Thi tuyển viên chức GV nghi lộ đề, thí sinh có đáp án trước.",
        ],
    ),
    # -- policy -----------------------------------------------------------------------------
    (
        "compensation-road",
        "policy",
        "Chi bộ thôn Phước Thuận, xã Hòa Nhơn",
        [
            "Người dân thôn Phước Thuận bị thu hồi đất làm đường vành đai nhưng giá đền bù thấp hơn nhiều so với giá thị trường.",
            "Đất nhà tôi ở Phước Thuận bị lấy làm đường vành đai, đền bù có mấy trăm nghìn một mét, mua lại chỗ khác không nổi.",
            "Phước Thuận: giải tỏa làm đường vành đai, giá đền bù quá thấp.",
        ],
    ),
    (
        "resettle-late",
        "policy",
        "Chi bộ thôn Phước Thuận, xã Hòa Nhơn",
        [
            "Các hộ giải tỏa thôn Phước Thuận đã bàn giao mặt bằng hơn một năm nhưng vẫn chưa được bố trí đất tái định cư.",
            "Nhà tôi giao đất cho dự án hơn năm nay rồi mà lô tái định cư vẫn chưa thấy đâu, phải đi thuê nhà ở.",
            "Phước Thuận: bàn giao mặt bằng >1 năm chưa có đất TĐC.",
        ],
    ),
    (
        "school-fees",
        "policy",
        "Chi bộ Trường THCS Nguyễn Huệ",
        [
            "Trường THCS Nguyễn Huệ thu thêm nhiều khoản ngoài quy định như tiền máy lạnh, tiền vệ sinh, tiền quỹ lớp lên tới hai triệu đồng.",
            "Đầu năm học trường Nguyễn Huệ bắt phụ huynh đóng đủ thứ tiền, máy lạnh, vệ sinh, quỹ lớp, gần 2 triệu một đứa.",
            "THCS Nguyễn Huệ lạm thu đầu năm ~2tr/HS (máy lạnh, vệ sinh, quỹ lớp).",
        ],
    ),
    (
        "extra-class",
        "policy",
        "Chi bộ Trường THCS Nguyễn Huệ",
        [
            "Giáo viên chủ nhiệm một lớp ở trường Nguyễn Huệ ép học sinh đi học thêm ở nhà cô, em nào không học bị cho điểm thấp.",
            "Cô chủ nhiệm lớp con tôi ở Nguyễn Huệ gợi ý học thêm nhà cô, đứa nào không đi là bị soi, điểm kém hẳn.",
            "GVCN trường Nguyễn Huệ ép HS học thêm tại nhà.",
        ],
    ),
    (
        "hospital-overload",
        "policy",
        "Chi bộ Bệnh viện Đa khoa tỉnh",
        [
            "Khoa nhi Bệnh viện Đa khoa tỉnh quá tải nghiêm trọng, ba cháu phải nằm chung một giường, phụ huynh nằm ngoài hành lang.",
            "Đưa con vào khoa nhi bệnh viện tỉnh mà 3 đứa một giường, bố mẹ trải chiếu ngủ ngoài hành lang.",
            "BV Đa khoa tỉnh khoa nhi quá tải, 3 bé/giường.",
        ],
    ),
    (
        "hospital-insurance-drugs",
        "policy",
        "Chi bộ Bệnh viện Đa khoa tỉnh",
        [
            "Bệnh nhân có thẻ bảo hiểm y tế ở Bệnh viện Đa khoa tỉnh phải tự ra ngoài mua thuốc vì bệnh viện hết thuốc trong danh mục.",
            "Có bảo hiểm y tế mà vào bệnh viện tỉnh bác sĩ kê đơn bảo ra nhà thuốc ngoài mua, trong viện hết thuốc.",
            "BV tỉnh hết thuốc BHYT, BN phải tự mua ngoài.",
        ],
    ),
    (
        "redbook-delay",
        "policy",
        "Chi bộ Văn phòng Đăng ký đất đai",
        [
            "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất nộp ở Văn phòng đăng ký đất đai đã quá hạn ba tháng mà chưa có kết quả.",
            "Nộp hồ sơ làm sổ đỏ từ tháng 6, hẹn 30 ngày mà giờ đã ba tháng chưa xong, lên hỏi thì bảo chờ.",
            "Hồ sơ cấp sổ đỏ trễ hạn 3 tháng tại VP đăng ký đất đai.",
        ],
    ),
    (
        "pension-delay",
        "policy",
        "Đảng bộ Bảo hiểm xã hội tỉnh",
        [
            "Nhiều người nghỉ hưu từ tháng 7 đến nay chưa nhận được quyết định hưởng lương hưu của Bảo hiểm xã hội tỉnh.",
            "Tôi về hưu tháng bảy mà tới giờ bảo hiểm xã hội vẫn chưa ra quyết định, chưa có đồng lương hưu nào.",
            "Chậm ra QĐ hưởng lương hưu cho người nghỉ từ T7.",
        ],
    ),
    # -- enterprise -------------------------------------------------------------------------
    (
        "power-cut-kcn",
        "enterprise",
        "Đảng bộ Ban Quản lý các Khu công nghiệp",
        [
            "Khu công nghiệp Hòa Khánh bị cắt điện luân phiên hai ngày mỗi tuần, các doanh nghiệp phải dừng sản xuất, không kịp giao hàng.",
            "Tuần nào KCN Hòa Khánh cũng cúp điện hai ngày, nhà máy đứng hết, đơn hàng trễ hẹn với khách.",
            "KCN Hòa Khánh cắt điện 2 ngày/tuần, DN ngừng sản xuất.",
        ],
    ),
    (
        "wastewater-kcn",
        "enterprise",
        "Đảng bộ Ban Quản lý các Khu công nghiệp",
        [
            "Nước thải từ khu công nghiệp Hòa Khánh xả ra kênh Phú Lộc có màu đen, bốc mùi hôi thối, cá chết nổi trắng.",
            "Kênh Phú Lộc chỗ cống xả của khu công nghiệp nước đen ngòm, hôi không chịu được, cá chết hàng loạt.",
            "KCN Hòa Khánh xả thải đen ra kênh Phú Lộc, cá chết.",
        ],
    ),
    (
        "vat-refund",
        "enterprise",
        "Đảng bộ Cục Thuế tỉnh",
        [
            "Doanh nghiệp xuất khẩu hải sản chờ hoàn thuế giá trị gia tăng đã sáu tháng, thiếu vốn lưu động nghiêm trọng.",
            "Công ty tôi xuất khẩu hải sản, hồ sơ hoàn thuế VAT nộp nửa năm rồi vẫn chưa được giải quyết, sắp hết tiền quay vòng.",
            "DN XK hải sản chờ hoàn VAT 6 tháng, thiếu vốn.",
        ],
    ),
    (
        "rice-price",
        "enterprise",
        "Đảng bộ Hội Nông dân tỉnh",
        [
            "Thương lái ép giá lúa vụ đông xuân ở Hòa Phong xuống còn 5.500 đồng một ký, nông dân bán lỗ vốn.",
            "Lúa năm nay ở Hòa Phong lái buôn chỉ trả 5 nghìn rưỡi một ký, trừ phân thuốc là lỗ, bà con rất khổ.",
            "Lúa Hòa Phong bị ép giá còn 5.500đ/kg, nông dân lỗ.",
        ],
    ),
    (
        "fertilizer-fake",
        "enterprise",
        "Đảng bộ Hội Nông dân tỉnh",
        [
            "Đại lý vật tư nông nghiệp ở xã Hòa Phong bán phân bón giả, lúa bón vào không lên, nhiều hộ mất trắng.",
            "Mua phân ở đại lý trong xã Hòa Phong về bón mà lúa vẫn vàng úa, nghi phân giả, bà con thiệt hại nặng.",
            "Đại lý ở Hòa Phong bán phân bón giả, lúa mất mùa.",
        ],
    ),
    (
        "loan-coop",
        "enterprise",
        "Chi bộ Liên minh Hợp tác xã tỉnh",
        [
            "Hợp tác xã rau sạch Túy Loan không vay được vốn ưu đãi vì ngân hàng đòi tài sản thế chấp, dù có chính sách hỗ trợ.",
            "HTX rau Túy Loan đi vay vốn hỗ trợ mà ngân hàng cứ bắt thế chấp sổ đỏ, chính sách có mà không tiếp cận được.",
            "HTX rau Túy Loan không vay được vốn ưu đãi do đòi thế chấp.",
        ],
    ),
    (
        "port-fees",
        "enterprise",
        "Chi bộ Cục Hải quan tỉnh",
        [
            "Các doanh nghiệp phản ánh thủ tục thông quan hàng nhập khẩu tại cảng Tiên Sa kéo dài, phải chi thêm phí ngoài.",
            "Hàng về cảng Tiên Sa làm thủ tục hải quan mất cả tuần, muốn nhanh thì phải lót tay, doanh nghiệp kêu trời.",
            "Thông quan cảng Tiên Sa chậm, DN phải chi phí ngoài.",
        ],
    ),
    # -- ideology ---------------------------------------------------------------------------
    (
        "rumour-merge",
        "ideology",
        "Đảng bộ Sở Nội vụ",
        [
            "Cán bộ trong Sở Nội vụ hoang mang vì tin đồn sáp nhập các phòng và tinh giản một nửa biên chế trước cuối năm.",
            "Trong sở đang đồn sắp nhập phòng, cắt giảm một nửa người, anh em không còn tâm trí làm việc.",
            "Tin đồn sáp nhập phòng, tinh giản 50% biên chế gây hoang mang ở Sở Nội vụ.",
        ],
    ),
    (
        "fake-news-facebook",
        "ideology",
        "Đảng bộ Sở Thông tin và Truyền thông",
        [
            "Trang Facebook 'Tin nóng Đà Nẵng' đăng tin sai sự thật về việc tỉnh thu hồi đất của dân để giao cho nhà đầu tư nước ngoài.",
            "Fanpage Tin nóng Đà Nẵng bịa chuyện tỉnh lấy đất dân giao cho người nước ngoài, nhiều người chia sẻ lắm.",
            "FB 'Tin nóng Đà Nẵng' đăng tin sai về thu hồi đất giao nhà đầu tư nước ngoài.",
        ],
    ),
    (
        "youth-apathy",
        "ideology",
        "Chi bộ Tỉnh đoàn",
        [
            "Đoàn viên thanh niên ở các khu công nghiệp ít tham gia sinh hoạt đoàn, cho rằng hoạt động hình thức, không thiết thực.",
            "Thanh niên làm công nhân giờ chẳng ai mặn mà sinh hoạt đoàn, bảo toàn họp hình thức, chẳng giúp gì cho mình.",
            "ĐVTN ở KCN thờ ơ sinh hoạt đoàn, cho là hình thức.",
        ],
    ),
    (
        "retiree-opinion",
        "ideology",
        "Đảng bộ Hội Cựu chiến binh tỉnh",
        [
            "Hội viên cựu chiến binh bức xúc vì việc xử lý cán bộ sai phạm trong vụ đất đai ở Hòa Nhơn kéo dài, chưa công khai kết quả.",
            "Các cựu chiến binh hỏi mãi vụ sai phạm đất ở Hòa Nhơn xử tới đâu rồi mà không thấy công bố gì.",
            "CCB bức xúc vụ sai phạm đất Hòa Nhơn xử lý chậm, không công khai.",
        ],
    ),
    (
        "meeting-formal",
        "ideology",
        "Chi bộ Sở Tư pháp",
        [
            "Sinh hoạt chi bộ ở Sở Tư pháp còn nặng hình thức, chủ yếu đọc văn bản, đảng viên ít phát biểu, thiếu tự phê bình.",
            "Họp chi bộ bên Tư pháp toàn đọc nghị quyết, chẳng ai góp ý gì, xong là về, rất nhàm.",
            "SH chi bộ Sở Tư pháp hình thức, chỉ đọc văn bản, không phê bình.",
        ],
    ),
    (
        "price-worry",
        "ideology",
        "Chi bộ Hội Liên hiệp Phụ nữ tỉnh",
        [
            "Chị em phụ nữ lo lắng vì giá điện, giá xăng và giá thực phẩm tăng liên tục trong khi thu nhập không tăng.",
            "Chị em than giá điện, xăng, đồ ăn cái gì cũng lên mà lương thì đứng yên, chi tiêu gia đình rất chật vật.",
            "Phụ nữ lo giá điện, xăng, thực phẩm tăng, thu nhập không tăng.",
        ],
    ),
    (
        "online-scam-elder",
        "ideology",
        "Chi bộ Hội Liên hiệp Phụ nữ tỉnh",
        [
            "Nhiều chị em lớn tuổi bị lừa qua mạng, kẻ gian giả danh công an gọi điện yêu cầu chuyển tiền để xác minh tài khoản.",
            "Mấy bà trong hội bị gọi điện giả công an, bảo chuyển tiền vô tài khoản để kiểm tra, có người mất cả trăm triệu.",
            "Giả danh công an gọi điện lừa chị em lớn tuổi chuyển tiền.",
        ],
    ),
    # -- other ------------------------------------------------------------------------------
    (
        "garbage-alley",
        "other",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        [
            "Rác thải ở kiệt 12 Âu Cơ không được thu gom cả tuần, bốc mùi hôi thối, ruồi muỗi nhiều, nguy cơ dịch sốt xuất huyết.",
            "Kiệt 12 Âu Cơ rác chất đống cả tuần không ai tới lấy, hôi hám, muỗi đầy, sợ sốt xuất huyết.",
            "K12 Âu Cơ rác không thu gom 1 tuần, hôi, nhiều muỗi.",
        ],
    ),
    (
        "water-cut",
        "other",
        "Chi bộ khu dân cư Hòa Minh",
        [
            "Khu dân cư Hòa Minh bị mất nước sinh hoạt ba ngày liền mà công ty cấp nước không thông báo trước.",
            "Ba hôm nay khu Hòa Minh cúp nước hoàn toàn, không ai báo gì, dân phải đi xin nước từng xô.",
            "Hòa Minh mất nước 3 ngày, không được báo trước.",
        ],
    ),
    (
        "karaoke-noise",
        "other",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        [
            "Quán karaoke trên đường Âu Cơ mở nhạc to đến hai giờ sáng, người dân xung quanh không ngủ được.",
            "Cái quán karaoke ở Âu Cơ hát hò tới 2h sáng đêm nào cũng vậy, cả xóm mất ngủ, báo mãi không ai xử.",
            "Karaoke đường Âu Cơ hát tới 2h sáng, gây ồn.",
        ],
    ),
    (
        "dog-loose",
        "other",
        "Chi bộ khu dân cư Hòa Minh",
        [
            "Nhiều hộ ở khu Hòa Minh thả rông chó không rọ mõm, đã có hai cháu nhỏ bị chó cắn phải đi tiêm phòng dại.",
            "Chó thả rông đầy đường ở Hòa Minh, không rọ mõm, tuần rồi hai đứa nhỏ bị cắn phải chích ngừa dại.",
            "Chó thả rông ở Hòa Minh, 2 trẻ bị cắn.",
        ],
    ),
    (
        "bus-route",
        "other",
        "Chi bộ Sở Xây dựng",
        [
            "Tuyến xe buýt số 5 đi khu công nghiệp bị cắt giảm chuyến, công nhân tan ca tối không có xe về.",
            "Xe buýt tuyến 5 giờ bớt chuyến, tối tan ca ra trạm đợi hoài không có xe, công nhân phải đi bộ.",
            "Buýt tuyến 5 giảm chuyến, CN tan ca tối không có xe.",
        ],
    ),
    (
        "park-encroach",
        "other",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        [
            "Công viên nhỏ ở tổ 15 Hòa Khánh Bắc bị một số hộ lấn chiếm làm bãi giữ xe thu tiền, trẻ em không còn chỗ chơi.",
            "Cái công viên tổ 15 giờ thành bãi xe thu phí của mấy nhà gần đó, bọn nhỏ hết chỗ chơi.",
            "Công viên tổ 15 Hòa Khánh Bắc bị chiếm làm bãi xe.",
        ],
    ),
    (
        "drought-field",
        "other",
        "Chi bộ thôn Phước Thuận, xã Hòa Nhơn",
        [
            "Kênh mương nội đồng thôn Phước Thuận bị bồi lấp chưa nạo vét, ruộng lúa đang khô hạn, nứt nẻ.",
            "Mương thủy lợi ở Phước Thuận đầy bùn đất không ai vét, nước không vô ruộng, lúa khô nứt hết.",
            "Phước Thuận: mương nội đồng bồi lấp, ruộng khô hạn.",
        ],
    ),
    (
        "internet-school",
        "other",
        "Chi bộ Trường THCS Nguyễn Huệ",
        [
            "Phòng máy tính của trường THCS Nguyễn Huệ hư hỏng gần hết, học sinh học tin học chỉ nghe lý thuyết.",
            "Máy tính ở trường Nguyễn Huệ hư gần hết, giờ tin học tụi nhỏ chỉ ngồi nghe giảng, không được thực hành.",
            "THCS Nguyễn Huệ phòng máy hư, HS không thực hành tin học.",
        ],
    ),
]

# Near misses: one report each, about the same place or the same kind of problem as a matter
# above but a different matter (key, category, unit, text, the matter it is close to). They are
# in the retrieval pool with no duplicate of their own, so any suggestion for them is wrong.
NEAR_MISSES: list[tuple[str, str, str, str, str]] = [
    (
        "bonus-hoatho",
        "workplace",
        "Chi bộ Công ty CP Dệt may Hòa Thọ",
        "Công ty Hòa Thọ thông báo năm nay cắt thưởng Tết của công nhân xưởng 3 vì đơn hàng giảm.",
        "wages-hoatho",
    ),
    (
        "wages-sunrise",
        "workplace",
        "Chi bộ Công ty TNHH Điện tử Sunrise",
        "Sunrise chậm trả lương tháng 10 cho công nhân hơn một tuần, quản lý hẹn đầu tháng sau.",
        "wages-hoatho",
    ),
    (
        "canteen-price-anphat",
        "workplace",
        "Chi bộ Công ty CP Nhựa An Phát",
        "Nhà ăn công ty An Phát tăng tiền suất ăn ca trừ vào lương mà chất lượng bữa ăn không đổi.",
        "canteen-hoatho",
    ),
    (
        "insurance-card-phuoc",
        "workplace",
        "Chi bộ Công ty TNHH Giày Phước Lộc",
        "Công nhân mới ở Phước Lộc làm việc ba tháng rồi vẫn chưa được công ty làm thẻ bảo hiểm y tế.",
        "bhxh-sunrise",
    ),
    (
        "flood-house-hoakhanh",
        "security",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        "Mưa lớn làm nước tràn vào nhà dân ở tổ 20 Hòa Khánh Bắc do cống thoát nước bị rác làm tắc.",
        "flood-road-hoakhanh",
    ),
    (
        "streetlight-hoaminh",
        "security",
        "Chi bộ khu dân cư Hòa Minh",
        "Đèn chiếu sáng ở công viên Hòa Minh bị hỏng, buổi tối thanh niên tụ tập hút chích.",
        "streetlight-hoakhanh",
    ),
    (
        "theft-house-talang",
        "security",
        "Chi bộ thôn Tà Lang, xã Hòa Bắc",
        "Thôn Tà Lang liên tiếp xảy ra trộm bò ban đêm, người dân phải thay nhau thức canh.",
        "theft-market",
    ),
    (
        "bribe-traffic",
        "discipline",
        "Đảng bộ Sở Giao thông vận tải",
        "Nhân viên đăng kiểm xe cơ giới của Sở Giao thông gợi ý chủ xe đưa tiền để được đăng kiểm nhanh.",
        "cadre-bribe-ward",
    ),
    (
        "car-private-ubnd",
        "discipline",
        "Chi bộ Văn phòng UBND tỉnh",
        "Xe công của Văn phòng UBND tỉnh được dùng chở gia đình một cán bộ đi du lịch cuối tuần.",
        "car-private-dept",
    ),
    (
        "compensation-school",
        "policy",
        "Chi bộ thôn Phước Thuận, xã Hòa Nhơn",
        "Dự án mở rộng trường tiểu học Hòa Nhơn thu hồi đất vườn của dân nhưng chưa công bố phương án đền bù.",
        "compensation-road",
    ),
    (
        "school-uniform",
        "policy",
        "Chi bộ Trường THCS Nguyễn Huệ",
        "Trường Nguyễn Huệ bắt học sinh mua đồng phục tại trường với giá cao gấp đôi ngoài chợ.",
        "school-fees",
    ),
    (
        "hospital-er-wait",
        "policy",
        "Chi bộ Bệnh viện Đa khoa tỉnh",
        "Phòng cấp cứu Bệnh viện Đa khoa tỉnh ban đêm chỉ có một bác sĩ trực, bệnh nhân chờ hơn hai tiếng.",
        "hospital-overload",
    ),
    (
        "power-cut-village",
        "enterprise",
        "Chi bộ thôn Tà Lang, xã Hòa Bắc",
        "Thôn Tà Lang mất điện liên tục mỗi chiều, các cơ sở chế biến nông sản không làm được.",
        "power-cut-kcn",
    ),
    (
        "rice-seed",
        "enterprise",
        "Đảng bộ Hội Nông dân tỉnh",
        "Giống lúa được hỗ trợ cho nông dân Hòa Phong vụ này nảy mầm kém, nhiều ruộng phải gieo lại.",
        "fertilizer-fake",
    ),
    (
        "rumour-salary",
        "ideology",
        "Đảng bộ Sở Nội vụ",
        "Cán bộ Sở Nội vụ bàn tán việc cải cách tiền lương bị lùi, nhiều người chán nản muốn nghỉ việc.",
        "rumour-merge",
    ),
    (
        "scam-youth",
        "ideology",
        "Chi bộ Tỉnh đoàn",
        "Nhiều đoàn viên bị lừa tuyển cộng tác viên bán hàng online, phải nộp tiền cọc rồi mất liên lạc.",
        "online-scam-elder",
    ),
    (
        "garbage-market",
        "other",
        "Chi bộ Ban quản lý chợ Cồn",
        "Rác thải ở khu chợ Cồn phía đường Hùng Vương dồn ứ cả ngày, nước rỉ chảy ra lòng đường.",
        "garbage-alley",
    ),
    (
        "water-dirty",
        "other",
        "Chi bộ khu dân cư Hòa Khánh Bắc",
        "Nước máy ở khu Hòa Khánh Bắc mấy hôm nay đục, có mùi clo nặng, người dân không dám dùng nấu ăn.",
        "water-cut",
    ),
]
